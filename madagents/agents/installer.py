"""Installer: makes sure the sandbox provides every package the plan needs and records their versions."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.steps import require_plan
from madagents.context import RunContext
from madagents.state import RunState
from madagents.toolcall import call_tool
from tools import environment

__all__ = ["installer"]

ENVIRONMENT_STEP = "steps/00-environment"


def installer(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Check the sandbox against the plan's required packages."""
    ctx = runtime.context
    request = environment.Request(packages=require_plan(state).required_packages)
    result, call = call_tool(ctx, ENVIRONMENT_STEP, request, environment.Result)
    update: dict[str, Any] = {"environment": result, "tool_calls": [call]}
    if result.missing:
        update["error"] = (
            f"the {ctx.sandbox.name} sandbox lacks {', '.join(result.missing)}; install them with "
            f"`pip install {' '.join(result.missing)}` (or reinstall madagents, which brings the offline stack)"
        )
    elif not result.ok:
        update["error"] = f"cannot inspect the {ctx.sandbox.name} sandbox: {result.error} (log: {call.log_path})"
    return update
