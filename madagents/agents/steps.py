"""Executing one planned step, shared by the roles that run tools."""

from __future__ import annotations

import time
from typing import Any, Protocol

from langgraph.runtime import Runtime

from madagents.context import RunContext
from madagents.llm.budget import BudgetExceededError
from madagents.rundir import TraceEvent
from madagents.state import Plan, Role, RunState
from madagents.toolcall import ResultT, call_tool

__all__ = ["NodeFunction", "execute_step", "require_plan", "traced"]


def require_plan(state: RunState) -> Plan:
    if state.plan is None:
        msg = "the planner has not produced a plan; the graph routes every role after the planner"
        raise RuntimeError(msg)
    return state.plan


def execute_step(ctx: RunContext, plan: Plan, role: Role, result_type: type[ResultT], state_key: str) -> dict[str, Any]:
    """Run the plan's step for ``role`` and return the state update (result, tool call, artifacts, error)."""
    step = plan.step(role)
    result, call = call_tool(ctx, f"steps/{step.id}", step.request, result_type)
    update: dict[str, Any] = {state_key: result, "tool_calls": [call], "artifacts": result.files}
    if not result.ok:
        update["error"] = f"{role} step {step.id} ({step.request.tool}) failed: {result.error} (log: {call.log_path})"
    return update


class NodeFunction(Protocol):
    """A graph node: reads the state, returns the fields it changes."""

    def __call__(self, state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]: ...


def traced(name: str, node: NodeFunction) -> NodeFunction:
    """Wrap a node so its start, end and duration go to trace.jsonl and to the reporter."""

    def run_node(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = runtime.context
        ctx.rundir.trace(TraceEvent(event="node_start", node=name))
        ctx.reporter.node_started(name)
        start = time.monotonic()
        try:
            update = node(state, runtime=runtime)
        except BudgetExceededError as exc:
            update = {"error": f"budget: {exc}", "spend": exc.spend or state.spend}
        seconds = time.monotonic() - start
        spend = update.get("spend", state.spend)
        update["spend"] = spend.model_copy(update={"seconds": spend.seconds + seconds})
        error = update.get("error")
        ctx.rundir.trace(TraceEvent(event="node_end", node=name, seconds=seconds, ok=error is None, error=error))
        ctx.reporter.node_finished(name, seconds, error)
        return update

    run_node.__name__ = name
    run_node.__doc__ = node.__doc__
    return run_node
