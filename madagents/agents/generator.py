"""Generator: produces the event samples of a plan step (hard process, shower, hadronisation, detector)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.estimate import estimate_generation
from madagents.agents.step_agent import run_step
from madagents.agents.steps import current_step, require_plan
from madagents.context import RunContext
from madagents.reproduce import start_early_reproduction
from madagents.state import RunState
from madagents.validation import load_review_libraries

__all__ = ["generator"]


def generator(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Run one generation step the dispatcher sent; in chat and model-driven runs, big samples are estimated first."""
    ctx = runtime.context
    step = current_step(state)
    load_review_libraries()  # for the reviewer, while this step keeps the host idle
    # a workflow run from the command line has nobody to ask and no model to brief: it just runs
    estimate = estimate_generation(ctx, state, step) if ctx.models or ctx.confirm else None
    if estimate is not None and estimate.error is not None:
        return {"error": estimate.error}
    # here rather than in the installer, so that a resumed run gets it too; after the user's yes, as nobody may still
    # decline or (without a model) amend the generation the check regenerates
    if ctx.models is None:
        start_early_reproduction(ctx, require_plan(state))
    return run_step(ctx, state, step, estimate.text if estimate is not None else "")
