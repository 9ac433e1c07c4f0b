"""Executing one planned step, shared by the roles that run tools."""

from __future__ import annotations

import time
from typing import Any, Protocol

from langgraph.runtime import Runtime

from madagents.context import RunContext
from madagents.llm.budget import BudgetExceededError, Spend
from madagents.llm.client import ModelAccessError
from madagents.rundir import TraceEvent
from madagents.state import Plan, PlanStep, RunState, result_type
from madagents.toolcall import call_tool

__all__ = ["NodeFunction", "current_step", "execute_step", "require_plan", "step_failed", "traced"]


def require_plan(state: RunState) -> Plan:
    if state.plan is None:
        msg = "the planner has not produced a plan; the graph routes every role after the planner"
        raise RuntimeError(msg)
    return state.plan


def current_step(state: RunState) -> PlanStep:
    """The step a generator or analyst task was dispatched to run."""
    if state.current_step is None:
        msg = "a role task was started without a step; the dispatcher sends each one with its step id"
        raise RuntimeError(msg)
    return require_plan(state).step(state.current_step)


def execute_step(ctx: RunContext, step: PlanStep) -> dict[str, Any]:
    """Run ``step``'s tool and return the state update (result, tool call, artifacts, error)."""
    result, call = call_tool(ctx, f"steps/{step.id}", step.request, result_type(step.request))
    update: dict[str, Any] = {"results": {step.id: result}, "tool_calls": [call], "artifacts": result.files}
    if not result.ok:
        update["error"] = step_failed(step, result.error, call.log_path)
    return update


def step_failed(step: PlanStep, error: str | None, log_path: str) -> str:
    return f"{step.role} step {step.id} ({step.request.tool}) failed: {error} (log: {log_path})"


class NodeFunction(Protocol):
    """A graph node: reads the state, returns the fields it changes."""

    def __call__(self, state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]: ...


def traced(name: str, node: NodeFunction) -> NodeFunction:
    """Wrap a node so its start, end and duration go to trace.jsonl and to the reporter.

    The duration is the node's work: time spent waiting for the user's answer is traced apart (``waited_s``).
    """

    def run_node(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = runtime.context
        ctx.rundir.trace(TraceEvent(event="node_start", node=name))
        ctx.reporter.node_started(name)
        start, waited_before = time.monotonic(), ctx.waited_s()
        try:
            update = node(state, runtime=runtime)
        except BudgetExceededError as exc:
            update = {"error": f"budget: {exc}", "spend": exc.spend or Spend()}
        except ModelAccessError as exc:
            # the hint is the caller's: a run continues with --resume, a chat session just asks again
            update = {"error": f"model: {exc}; then continue with `madagents run --resume {ctx.rundir.path}`"}
        waited = ctx.waited_s() - waited_before
        seconds = time.monotonic() - start - waited
        update["spend"] = update.get("spend", Spend()) + Spend(seconds=seconds)
        error = update.get("error")
        ended = TraceEvent(
            event="node_end", node=name, seconds=seconds, waited_s=waited or None, ok=error is None, error=error
        )
        ctx.rundir.trace(ended)
        ctx.reporter.node_finished(name, seconds, error)
        return update

    run_node.__name__ = name
    run_node.__doc__ = node.__doc__
    return run_node
