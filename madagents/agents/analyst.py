"""Analyst: selects objects and events and makes the histograms of the plan."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.step_agent import run_step_with_model
from madagents.agents.steps import execute_step, require_plan
from madagents.context import RunContext
from madagents.state import Role, RunState
from tools import analyze

__all__ = ["analyst"]


def analyst(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Analyse the generated events."""
    ctx, plan = runtime.context, require_plan(state)
    if ctx.models is None:
        return execute_step(ctx, plan, Role.ANALYST, analyze.Result, "analysis")
    return run_step_with_model(ctx, state, plan, Role.ANALYST, analyze.Result, "analysis")
