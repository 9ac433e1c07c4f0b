"""Analyst: selects objects and events and makes the histograms of a plan step."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.step_agent import run_step
from madagents.agents.steps import current_step
from madagents.context import RunContext
from madagents.state import RunState

__all__ = ["analyst"]


def analyst(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Run one analysis step the dispatcher sent."""
    return run_step(runtime.context, state, current_step(state))
