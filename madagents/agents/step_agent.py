"""Executing one planned tool step (generator, analyst), with a model only where there is a decision to make.

The plan fixes every field of a step's request, so a step runs as planned without a model call (a "plan-fixed"
call in trace.jsonl, no tokens). A model-driven role's model is asked only where the plan leaves something open:
a step the reviewer sent back (its reasons say what to change), or a planned request whose tool failed (the model
may correct the request). The model's arguments are the tool's own pydantic Request, validated before anything
runs; a request that differs from the plan replaces it in plan.json and reproduce.sh, and the change is logged as
an assumption.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from madagents.agents.loop import AgentTool, ToolInputError, assumption_tool, run_agent, start_messages
from madagents.agents.steps import execute_step, step_failed
from madagents.context import RunContext
from madagents.prompts import load_prompt
from madagents.rundir import TraceEvent
from madagents.state import Assumption, AssumptionSource, PlanStep, Role, RunState, ToolCall, result_type
from madagents.toolcall import call_tool
from madagents_tools.contract import ToolRequest, ToolResult

__all__ = ["run_step"]

MAX_ANSWER_CHARS = 3000
EXCLUDED_FROM_ANSWER = {"files", "versions", "log_tail", "log_path", "generation_seconds"}
"""Fields the model does not need; timings would also make replayed requests differ from recorded ones."""


@dataclass(slots=True)
class _Attempts:
    calls: list[ToolCall] = field(default_factory=list)
    last: tuple[ToolRequest, Any] | None = None


def run_step(ctx: RunContext, state: RunState, step: PlanStep, briefing: str = "") -> dict[str, Any]:
    """Run ``step`` as planned, or let its role's model decide what the plan leaves open; returns the state update.

    ``briefing`` (the generation's cost estimate) is shown to the model when it is asked.
    """
    if ctx.models is None:
        return execute_step(ctx, step)
    if state.send_back is not None and state.send_back.role == step.role:
        return _run_with_model(ctx, state, step, briefing)
    planned = _run_plan_fixed(ctx, step)
    if "error" not in planned:
        return planned
    # the planned request failed: deciding whether the request is at fault, and how to fix it, is the model's
    repaired = _run_with_model(ctx, state, step, briefing, failure=_failure_text(planned["results"][step.id]))
    calls = [*planned["tool_calls"], *repaired["tool_calls"]]
    if "results" not in repaired:  # the model ran nothing: the planned request's failure stands
        return {**planned, "tool_calls": calls, "assumptions": repaired["assumptions"], "spend": repaired["spend"]}
    return {**repaired, "tool_calls": calls}


def _run_plan_fixed(ctx: RunContext, step: PlanStep) -> dict[str, Any]:
    """The planned request, executed without a model call, and marked so in trace.jsonl and the tool calls."""
    ctx.rundir.trace(
        TraceEvent(
            event="plan_fixed",
            node=str(step.role),
            step_dir=f"steps/{step.id}",
            tool=step.request.tool,
            tokens=0,
            content="the plan fixes every field of the request: run as planned, without a model call",
        )
    )
    update = execute_step(ctx, step)
    update["tool_calls"] = [call.model_copy(update={"plan_fixed": True}) for call in update["tool_calls"]]
    return update


def _failure_text(result: ToolResult) -> str:
    return f"{result.error}\nlog tail:\n{result.log_tail[-1500:]}"


def _run_with_model(
    ctx: RunContext, state: RunState, step: PlanStep, briefing: str, failure: str = ""
) -> dict[str, Any]:
    """Let the step's role's model run it (after a send-back, or to repair ``failure``); the update as above."""
    role = Role(step.role)
    step_dir = f"steps/{step.id}"
    attempts = _Attempts()
    recorded: list[Assumption] = []

    def run_tool(request: ToolRequest) -> str:
        result, call = call_tool(ctx, step_dir, request, result_type(request))
        attempts.calls.append(call)
        attempts.last = (request, result)
        if not result.ok:
            msg = f"{request.tool} failed: {result.error}\nlog tail:\n{result.log_tail[-1500:]}"
            raise ToolInputError(msg)
        return result.model_dump_json(exclude=EXCLUDED_FROM_ANSWER)[:MAX_ANSWER_CHARS]

    tool = AgentTool(
        name=step.request.tool,
        description=f"Run {step.request.tool} in the sandbox: {step.description}.",
        args_schema=type(step.request),
        handler=run_tool,
        ends_turn=True,
    )
    feedback = state.send_back.reasons if state.send_back and state.send_back.role == role else []
    prompt = load_prompt(
        str(role),
        step_id=step.id,
        tool=step.request.tool,
        description=step.description,
        planned_request=step.request.model_dump_json(indent=1),
        feedback=feedback,
        briefing=briefing,
        failure=failure,
    )
    outcome = run_agent(
        ctx, role, start_messages(prompt, f"Run step {step.id}."), [tool, assumption_tool(role, recorded)], state.spend
    )
    update: dict[str, Any] = {"tool_calls": attempts.calls, "assumptions": recorded, "spend": outcome.spend}
    if attempts.last is None:
        update["error"] = f"the {role} ended without running step {step.id}: {outcome.final_text[:300]}"
        return update
    request, result = attempts.last
    update |= {"results": {step.id: result}, "artifacts": result.files}
    if not result.ok:
        update["error"] = step_failed(step, result.error, f"{step_dir}/log.txt")
    if request != step.request:
        # the dispatcher rewrites plan.json and reproduce.sh: parallel steps may amend the plan at the same time
        update["amended_requests"] = {step.id: request}
        update["assumptions"] = [*recorded, _amendment(role, step.id, step.request, request)]
    return update


def _amendment(role: Role, step_id: str, planned: ToolRequest, executed: ToolRequest) -> Assumption:
    before, after = planned.model_dump(), executed.model_dump()
    changed = sorted(key for key in after if before.get(key) != after[key])
    return Assumption(
        topic=f"Plan change in step {step_id}",
        choice="; ".join(f"{key}: {before.get(key)!r} → {after[key]!r}" for key in changed),
        source=AssumptionSource.AGENT,
        reason=f"the {role} ran the step with a corrected request; plan.json and reproduce.sh follow it",
        affects=["all outputs of the step"],
    )
