"""The tool-calling loop every model-driven role runs: ask the model, validate its tool calls, run them, repeat.

Arguments are validated against the tool's pydantic model before anything runs; a bad call comes back to the
model as ``Error: ...`` so it can correct itself. Budgets are checked before every model turn.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ValidationError

from madagents.context import AgentContext
from madagents.llm.budget import BudgetExceededError, ModelTurn, Spend
from madagents.llm.client import RETRIES, ModelClient, TokenCallback, ToolSchema
from madagents.rundir import TraceEvent
from madagents.state import Assumption, NotDone

__all__ = [
    "AgentGaveUpError",
    "AgentOutcome",
    "AgentTool",
    "ToolCallEvent",
    "ToolCallback",
    "ToolInputError",
    "assumption_tool",
    "describe_validation",
    "not_done_tool",
    "run_agent",
    "start_messages",
]

MAX_TRACE_CHARS = 4000


class ToolInputError(Exception):
    """A tool call the model can fix; the message goes back to the model."""


class AgentGaveUpError(Exception):
    """Raised by a tool handler when the model has used up its attempts; ends the role's visit with an error."""


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class AgentTool:
    """A tool offered to the model; its schema is ``args_schema`` itself, never re-typed."""

    name: str
    description: str
    args_schema: type[BaseModel]
    handler: Callable[[Any], str]
    """Runs the validated arguments and returns the answer for the model; raises ToolInputError if fixable."""
    ends_turn: bool = False
    """A successful call finishes the role's visit (e.g. submitting the plan)."""
    describe_error: Callable[[ValidationError], str] = describe_validation
    context: dict[str, Any] | None = None
    """Validation context of the arguments (the task's folder, which relative file names are read from)."""

    def schema(self) -> ToolSchema:
        schema = convert_to_openai_tool(self.args_schema)
        schema["function"]["name"] = self.name
        schema["function"]["description"] = self.description
        return schema


@dataclass(slots=True)
class AgentOutcome:
    messages: list[BaseMessage]
    spend: Spend
    finished: bool
    """A tool with ``ends_turn`` succeeded."""
    final_text: str = ""
    assumptions: list[Assumption] = field(default_factory=list)
    out_of_turns: bool = False
    """The model was still calling tools when ``max_agent_turns`` ran out."""


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """A tool call of a model-driven role, as it starts (``answer`` None) and as it ends (a web page shows both)."""

    call_id: str
    role: str
    name: str
    args: dict[str, Any]
    answer: str | None = None
    ok: bool | None = None


ToolCallback = Callable[[ToolCallEvent], None]


def assumption_tool(role: str, collected: list[Assumption]) -> AgentTool:
    """``record_assumption``: every choice the task leaves open goes into assumptions.yaml, not only into prose."""

    def record(assumption: Assumption) -> str:
        collected.append(assumption)
        return f"recorded assumption {assumption.topic!r} ({role})"

    return AgentTool(
        name="record_assumption",
        description="Record a choice the task does not fix (topic, choice, source, reason, affected outputs).",
        args_schema=Assumption,
        handler=record,
    )


def not_done_tool(collected: list[NotDone]) -> AgentTool:
    """``record_not_done``: a part of the request that cannot be honoured is said in the report, with why."""

    def record(item: NotDone) -> str:
        collected.append(item)
        return f"recorded as not done: {item.what!r}"

    return AgentTool(
        name="record_not_done",
        description="Record a part of the request that cannot be done here: what, why, and what would be needed.",
        args_schema=NotDone,
        handler=record,
    )


def run_agent(
    ctx: AgentContext,
    role: str,
    messages: list[BaseMessage],
    tools: list[AgentTool],
    spent_before: Spend,
    *,
    on_token: TokenCallback | None = None,
    on_tool: ToolCallback | None = None,
) -> AgentOutcome:
    """Run ``role``'s model with ``tools`` until it answers without calling a tool, or an ends-turn tool succeeds.

    The budget is checked against ``spent_before`` plus this loop's spend; the outcome carries this loop's only.
    """
    models = _require_models(ctx)
    by_name = {tool.name: tool for tool in tools}
    schemas = [tool.schema() for tool in tools]
    spend = Spend()
    started = time.monotonic()
    for _ in range(ctx.settings.llm.max_agent_turns):
        # the node's own seconds are added by the graph when it ends; here they count towards the check only
        elapsed = Spend(seconds=time.monotonic() - started)
        try:
            (spent_before + spend + elapsed).check(ctx.settings.budget)
        except BudgetExceededError as exc:
            raise BudgetExceededError(str(exc), spend) from None
        reply = models.complete(role=role, messages=messages, tools=schemas, on_token=on_token)
        if not reply.content and (reply.tool_calls or reply.invalid_tool_calls):
            # some OpenAI-compatible servers reject an assistant turn with tool calls and no content
            reply = reply.model_copy(update={"content": " "})
        messages.append(reply)
        spend.turns += _account(ctx, models, role, reply)
        if reply.invalid_tool_calls:
            # arguments that are not JSON (e.g. cut off): the model is told so and may call again
            spend.tool_rounds += len(reply.invalid_tool_calls)
            messages += [_invalid_call_answer(call) for call in reply.invalid_tool_calls]
            if not reply.tool_calls:
                continue
        if not reply.tool_calls:
            return AgentOutcome(messages, spend, finished=False, final_text=reply.text)
        finished = False
        for call in reply.tool_calls:
            spend.tool_rounds += 1
            answer, succeeded = _run_call(ctx, role, by_name, call, on_tool)
            messages.append(ToolMessage(content=answer, tool_call_id=call["id"] or call["name"]))
            finished = finished or (succeeded and by_name.get(call["name"], _NO_TOOL).ends_turn)
        if finished:
            return AgentOutcome(messages, spend, finished=True)
    return AgentOutcome(messages, spend, finished=False, out_of_turns=True)


def _run_call(
    ctx: AgentContext, role: str, by_name: dict[str, AgentTool], call: ToolCall, on_tool: ToolCallback | None
) -> tuple[str, bool]:
    """Run one validated tool call, announcing it, tracing it and noting its answer; returns (answer, succeeded)."""
    event = ToolCallEvent(call["id"] or call["name"], role, call["name"], call["args"])
    if on_tool is not None:
        on_tool(event)
    answer, succeeded = _execute(by_name, call["name"], call["args"])
    if on_tool is not None:
        on_tool(dataclasses.replace(event, answer=answer, ok=succeeded))
    ctx.rundir.trace(
        TraceEvent(
            event="agent_tool",
            node=role,
            tool=call["name"],
            ok=succeeded,
            content=_clip(f"{json.dumps(call['args'], ensure_ascii=False)} -> {answer}"),
        )
    )
    ctx.reporter.note(f"{role} → {call['name']}: {_first_line(answer)}")
    return answer, succeeded


def _invalid_call_answer(call: InvalidToolCall) -> ToolMessage:
    name = call["name"] or "the tool"
    return ToolMessage(
        content=f"Error: the arguments of {name} are not a valid JSON object ({call['error'] or 'unparsable'}); "
        "call it again with complete JSON",
        tool_call_id=call["id"] or name,
    )


def start_messages(system: str, user: str) -> list[BaseMessage]:
    return [SystemMessage(content=system), HumanMessage(content=user)]


def _require_models(ctx: AgentContext) -> ModelClient:
    if ctx.models is None:
        msg = "a model-driven role ran without a model; the runner attaches one for tasks and chat"
        raise RuntimeError(msg)
    return ctx.models


def _execute(by_name: dict[str, AgentTool], name: str, args: dict[str, Any]) -> tuple[str, bool]:
    tool = by_name.get(name)
    if tool is None:
        return f"Error: there is no tool {name!r}; the tools are {', '.join(sorted(by_name))}", False
    try:
        validated = tool.args_schema.model_validate(args, context=tool.context)
    except ValidationError as exc:
        return f"Error: invalid arguments for {name}: {tool.describe_error(exc)}", False
    try:
        return tool.handler(validated), True
    except ToolInputError as exc:
        return f"Error: {exc}", False


def _account(ctx: AgentContext, models: ModelClient, role: str, reply: AIMessage) -> list[ModelTurn]:
    """The turns a reply cost: the failed attempts before it (retried by the client), then the reply itself."""
    usage = reply.usage_metadata or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    model = models.model_name(role)
    turn = ModelTurn(
        role=role,
        model=model,
        input_tokens=usage["input_tokens"],
        output_tokens=usage["output_tokens"],
        dollars=ctx.settings.llm.cost(model, usage["input_tokens"], usage["output_tokens"]),
    )
    retries = int(reply.response_metadata.get(RETRIES, 0))
    # a failed attempt sent the same request; counting its input tokens errs on the side of the budget
    failed = turn.model_copy(
        update={"output_tokens": 0, "dollars": ctx.settings.llm.cost(model, turn.input_tokens, 0), "failed": True}
    )
    calls = [f"{call['name']}({json.dumps(call['args'], ensure_ascii=False)})" for call in reply.tool_calls]
    ctx.rundir.trace(
        TraceEvent(
            event="model_turn",
            node=role,
            model=model,
            tokens=turn.input_tokens * (1 + retries) + turn.output_tokens,
            retries=retries or None,
            content=_clip("\n".join([reply.text, *calls]).strip()),
        )
    )
    return [failed] * retries + [turn]


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TRACE_CHARS else text[:MAX_TRACE_CHARS] + " …"


def _first_line(text: str) -> str:
    return text.splitlines()[0][:160] if text else ""


_NO_TOOL = AgentTool(name="", description="", args_schema=BaseModel, handler=lambda _: "")
