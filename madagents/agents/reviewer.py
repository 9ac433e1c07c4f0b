"""Reviewer: runs the physics gates and the reproduction check, writes the report, and signs off or fails.

The same review runs on demand on any run directory (``madagents validate RUN_DIR``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from langgraph.runtime import Runtime
from pydantic import ValidationError

from madagents.agents.steps import require_plan
from madagents.context import RunContext
from madagents.report import write_provenance, write_report
from madagents.reproduce import verify_reproduction
from madagents.rundir import RunDir
from madagents.state import GateResult, Plan, Role, RunState, Verdict
from madagents.validation import run_gates
from tools import analyze, pythia8_generate

__all__ = ["review", "review_run_dir", "reviewer"]

ResultT = TypeVar("ResultT", pythia8_generate.Result, analyze.Result)


def review(
    ctx: RunContext,
    plan: Plan,
    generation: pythia8_generate.Result,
    analysis: analyze.Result,
    *,
    reproduce: bool = True,
) -> Verdict:
    """Every physics gate, and the re-execution of reproduce.sh unless ``reproduce`` is False."""
    gates = run_gates(ctx.rundir.path, plan, generation, analysis)
    if reproduce:
        gates.append(verify_reproduction(ctx, plan, analysis))
    return Verdict(signed_off=all(gate.passed for gate in gates), gates=gates)


def reviewer(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Check every output against the plan's expectations before anything is presented as a result."""
    ctx, plan = runtime.context, require_plan(state)
    if state.generation is None or state.analysis is None:
        return {"error": "the reviewer got no generation or analysis result to review"}
    verdict = review(ctx, plan, state.generation, state.analysis)
    write_report(ctx, plan, state.generation, state.analysis, verdict)
    write_provenance(ctx, state, plan)
    update: dict[str, Any] = {"verdict": verdict}
    if not verdict.signed_off:
        failed = "; ".join(f"{gate.gate}: {gate.message}" for gate in verdict.failures())
        update["error"] = f"physics gates failed — {failed}"
    return update


def review_run_dir(ctx: RunContext, *, reproduce: bool) -> Verdict:
    """Review a finished (or broken) run directory from its files alone; unreadable files are failed gates."""
    try:
        plan = ctx.rundir.read_model("plan.json", Plan)
        generation = _step_result(ctx.rundir, plan, Role.GENERATOR, pythia8_generate.Result)
        analysis = _step_result(ctx.rundir, plan, Role.ANALYST, analyze.Result)
    except (OSError, ValidationError, LookupError) as exc:
        message = f"cannot read the run's plan and step results: {_first_line(exc)}"
        return Verdict(signed_off=False, gates=[GateResult(gate="run directory", passed=False, message=message)])
    return review(ctx, plan, generation, analysis, reproduce=reproduce)


def _step_result(rundir: RunDir, plan: Plan, role: Role, result_type: type[ResultT]) -> ResultT:
    return rundir.read_model(f"steps/{plan.step(role).id}/result.json", result_type)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
