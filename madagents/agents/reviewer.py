"""Reviewer: runs the physics gates and the reproduction check, writes the report, and signs off or fails."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.steps import require_plan
from madagents.context import RunContext
from madagents.report import write_provenance, write_report
from madagents.reproduce import verify_reproduction
from madagents.state import RunState, Verdict
from madagents.validation import run_gates

__all__ = ["reviewer"]


def reviewer(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Check every output against the plan's expectations before anything is presented as a result."""
    ctx, plan = runtime.context, require_plan(state)
    if state.generation is None or state.analysis is None:
        return {"error": "the reviewer got no generation or analysis result to review"}
    gates = run_gates(ctx.rundir.path, plan, state.generation, state.analysis)
    gates.append(verify_reproduction(ctx, plan, state.analysis))
    verdict = Verdict(signed_off=all(gate.passed for gate in gates), gates=gates)
    write_report(ctx, plan, state.generation, state.analysis, verdict)
    write_provenance(ctx, state, plan)
    update: dict[str, Any] = {"verdict": verdict}
    if not verdict.signed_off:
        failed = "; ".join(f"{gate.gate}: {gate.message}" for gate in verdict.failures())
        update["error"] = f"physics gates failed — {failed}"
    return update
