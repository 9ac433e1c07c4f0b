"""Installer: makes sure the sandbox can run every tool of the plan, and records what runs them.

With a model, the model inspects the sandbox and reports (:mod:`madagents.agents.install_agent`); without one, the
plan's packages are looked up and any missing one is an error.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.install_agent import check_with_model
from madagents.agents.steps import require_plan
from madagents.context import RunContext
from madagents.sandbox import SandboxUnavailableError
from madagents.state import RunState
from madagents.toolcall import call_tool
from tools import environment

__all__ = ["installer"]

ENVIRONMENT_STEP = "steps/00-environment"


def installer(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Prepare the sandbox (building its image in run mode) and check the plan's required packages in it."""
    ctx = runtime.context
    build_log = ctx.rundir.file(f"{ENVIRONMENT_STEP}/sandbox.log")
    build_log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with build_log.open("w") as log:
            found = ctx.sandbox.ensure_ready(build=True, on_line=lambda line: print(line, file=log))
    except SandboxUnavailableError as exc:
        return {"error": f"the {ctx.sandbox.name} sandbox cannot run tools: {exc}"}
    ctx.reporter.note(found)
    plan = require_plan(state)
    update: dict[str, Any] = {"sandbox": ctx.sandbox.describe()}
    if ctx.models is not None:
        return update | check_with_model(ctx, state, plan, ENVIRONMENT_STEP)
    request = environment.Request(packages=plan.required_packages)
    result, call = call_tool(ctx, ENVIRONMENT_STEP, request, environment.Result)
    update |= {"environment": result, "tool_calls": [call]}
    if result.missing:
        update["error"] = (
            f"the {ctx.sandbox.name} sandbox lacks {', '.join(result.missing)}; install them with "
            f"`pip install {' '.join(result.missing)}` (or reinstall madagents, which brings the offline stack)"
        )
    elif not result.ok:
        update["error"] = f"cannot inspect the {ctx.sandbox.name} sandbox: {result.error} (log: {call.log_path})"
    return update
