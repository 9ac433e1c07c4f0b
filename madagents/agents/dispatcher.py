"""Dispatcher: sends every plan step whose inputs are ready to its role, all at once (LangGraph ``Send``).

Steps that do not read each other's outputs (two samples, two analyses) therefore run in parallel; the dispatcher
runs again after each wave and sends the steps the wave unblocked, until every step has a result.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Send

from madagents.agents.steps import require_plan
from madagents.context import RunContext
from madagents.reproduce import write_reproduce_script
from madagents.state import PlanStep, RunState

__all__ = ["REVIEW", "dispatcher", "ready_steps", "route_ready_steps"]

REVIEW = "reviewer"


def dispatcher(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Fold the requests model-driven roles corrected into the plan, and rewrite plan.json and reproduce.sh."""
    plan = require_plan(state)
    amended = plan.with_requests(state.amended_requests)
    if amended == plan:
        return {}
    runtime.context.rundir.write_model("plan.json", amended)
    if state.tool_host is not None:  # set by the installer, which runs before any step
        write_reproduce_script(runtime.context.rundir, amended, state.tool_host)
    return {"plan": amended}


def ready_steps(state: RunState) -> list[PlanStep]:
    """Steps without a result whose needed steps all have one."""
    plan = require_plan(state)
    done = set(state.results)
    return [step for step in plan.steps if step.id not in done and done.issuperset(step.needs)]


def route_ready_steps(state: RunState) -> list[Send] | str:
    """Send each ready step to its role; the reviewer once every step is done; the end after a failure."""
    if state.error is not None:
        return END
    # a validated plan names earlier steps only in ``needs``, so after a wave either some step is ready or all are done
    ready = ready_steps(state)
    if ready:
        return [Send(str(step.role), state.model_copy(update={"current_step": step.id})) for step in ready]
    return REVIEW
