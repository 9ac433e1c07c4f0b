"""Generator: produces the event samples of the plan (Pythia8 hard process, shower, hadronisation)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.estimate import estimate_generation
from madagents.agents.step_agent import run_step_with_model
from madagents.agents.steps import execute_step, require_plan
from madagents.context import RunContext
from madagents.state import Role, RunState
from tools import pythia8_generate

__all__ = ["generator"]


def generator(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Generate the planned events; in chat and model-driven runs, after a cost estimate for big samples."""
    ctx, plan = runtime.context, require_plan(state)
    # a workflow run from the command line has nobody to ask and no model to brief: it just runs
    estimate = estimate_generation(ctx, state, plan) if ctx.models or ctx.confirm else None
    if estimate is not None and estimate.error is not None:
        return {"error": estimate.error}
    if ctx.models is None:
        return execute_step(ctx, plan, Role.GENERATOR, pythia8_generate.Result, "generation")
    briefing = estimate.text if estimate is not None else ""
    return run_step_with_model(ctx, state, plan, Role.GENERATOR, pythia8_generate.Result, "generation", briefing)
