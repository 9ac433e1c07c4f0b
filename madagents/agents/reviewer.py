"""Reviewer: runs the physics gates and the reproduction check, writes the report, and signs off or fails.

The same review runs on demand on any run directory (``madagents validate RUN_DIR``).
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.review_agent import review_with_model
from madagents.agents.steps import require_plan
from madagents.claim_gates import gate_report
from madagents.context import RunContext
from madagents.integrity import check_integrity
from madagents.llm.budget import Spend
from madagents.report import write_provenance, write_report
from madagents.reproduce import verify_reproduction, write_verify_script
from madagents.safe_files import read_model
from madagents.state import GateResult, Plan, Review, Role, RunState, StepResult, Verdict, downstream, result_type
from madagents.validation import run_gates

__all__ = ["review", "review_run_dir", "reviewer"]


def review(ctx: RunContext, plan: Plan, results: dict[str, StepResult], *, reproduce: bool = True) -> Verdict:
    """Every physics gate, and the re-execution of reproduce.sh unless ``reproduce`` is False."""
    gates = run_gates(ctx.rundir.path, plan, results)
    if reproduce:
        gates.append(verify_reproduction(ctx, plan, results))
    return Verdict(signed_off=all(gate.passed for gate in gates), gates=gates)


def reviewer(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Check every output against the plan's expectations before anything is presented as a result."""
    ctx, plan = runtime.context, require_plan(state)
    verdict = review(ctx, plan, state.results)
    update: dict[str, Any] = {"verdict": verdict, "send_back": None}
    reviews = state.reviews
    if ctx.models is not None:
        model_review, update["spend"] = review_with_model(ctx, state, plan, verdict)
        reviews = [*reviews, model_review]
        update["reviews"] = [model_review]
        update |= _model_decision(ctx, state, model_review, verdict)
    elif not verdict.signed_off:
        failed = "; ".join(f"{gate.gate}: {gate.message}" for gate in verdict.failures())
        update["error"] = f"physics gates failed — {failed}"
    ctx.rundir.write_assumptions([*plan.assumptions, *state.assumptions])
    write_report(ctx, state, plan, update["verdict"], reviews, state.spend + update.get("spend", Spend()))
    write_provenance(ctx, state, plan)
    return update


def _model_decision(ctx: RunContext, state: RunState, model_review: Review, verdict: Verdict) -> dict[str, Any]:
    """Route on the model's review: signed off, sent back (bounded rounds, shared by every role), or failed."""
    if model_review.signed_off:
        return {}
    not_signed = verdict.model_copy(update={"signed_off": False})
    rounds_used = sum(1 for past in state.reviews if past.send_back is not None)
    limit = ctx.settings.llm.max_review_rounds
    back = model_review.send_back
    if back is not None and rounds_used < limit:
        return {"send_back": back, "verdict": not_signed, **_redo(require_plan(state), back.role)}
    if back is None:
        return {
            "verdict": not_signed,
            "error": f"the reviewer did not sign off (without a decision): {model_review.summary}",
        }
    error = (
        f"the reviewer did not sign off: it sent the run back {rounds_used} times, the most "
        f"MADAGENTS_LLM__MAX_REVIEW_ROUNDS={limit} allows, and would have sent it back to the {back.role} again: "
        f"{'; '.join(back.reasons)}"
    )
    return {"verdict": not_signed, "error": error}


def _redo(plan: Plan, role: Role) -> dict[str, Any]:
    """The results to drop: the role's steps and those reading them, or, for a re-plan, every step and correction."""
    if role == Role.PLANNER:
        everything = [step.id for step in plan.steps]
        return {"results": dict.fromkeys(everything), "amended_requests": dict.fromkeys(everything)}
    return {"results": dict.fromkeys(downstream(plan, {step.id for step in plan.steps if step.role == role}))}


def review_run_dir(ctx: RunContext, *, reproduce: bool) -> Verdict:
    """Review a finished (or broken) run directory from its files alone; unreadable files are failed gates.

    The files are checked against provenance.json first; reproduce.sh is executed only if they all match.
    """
    root = ctx.rundir.path
    try:
        plan = read_model(root, "plan.json", Plan)
        results = {
            step.id: read_model(root, f"steps/{step.id}/result.json", result_type(step.request)) for step in plan.steps
        }
    except (OSError, ValueError, LookupError) as exc:
        message = f"cannot read the run's plan and step results: {_first_line(exc)}"
        return Verdict(signed_off=False, gates=[GateResult(gate="run directory", passed=False, message=message)])
    integrity = check_integrity(root, plan)
    gates = [integrity, *run_gates(root, plan, results), gate_report(root, plan, results)]
    if reproduce and integrity.passed and integrity.inconclusive:  # the run's own script cannot be checked
        reproduced = verify_reproduction(ctx, plan, results, script=write_verify_script(ctx, plan))
        why = f"run instead of the run's own, which cannot be checked): {reproduced.message}"
        gates.append(reproduced.model_copy(update={"message": f"{reproduced.gate} rendered from plan.json ({why}"}))
    elif reproduce and integrity.passed:
        gates.append(verify_reproduction(ctx, plan, results))
    elif reproduce:
        message = "not executed: the run directory failed the integrity check, so the script may not be the run's"
        gates.append(GateResult(gate="reproduce.sh", passed=False, message=message))
    return Verdict(signed_off=all(gate.passed for gate in gates), gates=gates)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
