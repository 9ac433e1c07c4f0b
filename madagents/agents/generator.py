"""Generator: produces the event samples of the plan (Pythia8 hard process, shower, hadronisation)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.steps import execute_step, require_plan
from madagents.context import RunContext
from madagents.state import Role, RunState
from tools import pythia8_generate

__all__ = ["generator"]


def generator(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Generate the planned events."""
    return execute_step(runtime.context, require_plan(state), Role.GENERATOR, pythia8_generate.Result, "generation")
