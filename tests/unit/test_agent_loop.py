"""The tool-calling loop with a scripted model: broken tool-call JSON goes back to the model as an error."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from pydantic import BaseModel

from madagents.agents.loop import AgentTool, ToolCallEvent, run_agent, start_messages
from madagents.context import RunContext
from madagents.llm.budget import Spend
from madagents.llm.cassette import Cassette, RecordingClient, ReplayClient, response_from_dict, response_to_dict
from madagents.llm.client import ModelAccessError
from madagents.rundir import RunDir
from madagents.sandbox import LocalSandbox
from madagents.settings import Settings

BROKEN = AIMessage(
    content="",
    invalid_tool_calls=[
        {"type": "invalid_tool_call", "name": "echo", "args": '{"text": "cut of', "id": "c1", "error": "truncated"}
    ],
)
VALID = AIMessage(content="", tool_calls=[{"type": "tool_call", "name": "echo", "args": {"text": "hi"}, "id": "c2"}])


class EchoArgs(BaseModel):
    text: str


class ScriptedModel:
    """Answers with the given replies in turn and keeps every request it saw."""

    def __init__(self, replies: list[AIMessage]) -> None:
        self.replies = replies
        self.requests: list[list[BaseMessage]] = []

    def model_name(self, role: str) -> str:  # noqa: ARG002 - one model for every role
        return "scripted"

    def complete(self, *, role: str, messages: Sequence[BaseMessage], tools: Any, on_token: Any = None) -> AIMessage:  # noqa: ARG002
        self.requests.append(list(messages))
        return self.replies[len(self.requests) - 1]


def test_a_tool_call_with_broken_json_is_answered_with_an_error_and_the_model_may_retry(tmp_path: Path) -> None:
    model = ScriptedModel([BROKEN, VALID])
    ctx = RunContext(Settings(), RunDir(tmp_path), LocalSandbox(tmp_path), ["test"], models=model)
    echo = AgentTool("echo", "Echo the text.", EchoArgs, lambda args: args.text, ends_turn=True)
    outcome = run_agent(ctx, "planner", start_messages("system", "go"), [echo], Spend())
    assert outcome.finished
    answer = model.requests[1][-1]
    assert isinstance(answer, ToolMessage)
    assert answer.tool_call_id == "c1"
    assert "not a valid JSON object (truncated)" in str(answer.content)
    assert outcome.spend.tool_rounds == 2


def test_cassettes_keep_broken_tool_calls() -> None:
    restored = response_from_dict(response_to_dict(BROKEN))
    assert restored.invalid_tool_calls == BROKEN.invalid_tool_calls
    assert restored.tool_calls == []


def test_an_endpoint_failure_is_recorded_and_replayed_as_the_same_failure() -> None:
    class Unreachable(ScriptedModel):
        def complete(self, **_: Any) -> AIMessage:
            msg = "context length exceeded"
            raise ModelAccessError(msg)

    recorder = RecordingClient(Unreachable([]))
    messages = start_messages("system", "go")
    with pytest.raises(ModelAccessError):
        recorder.complete(role="planner", messages=messages, tools=[])
    cassette = Cassette(source="recorded", note="", model="m", entry="reproduce", turns=recorder.turns)
    with pytest.raises(ModelAccessError, match="context length exceeded"):
        ReplayClient(cassette).complete(role="planner", messages=messages, tools=[])


def test_each_tool_call_is_announced_as_it_starts_and_as_it_ends(tmp_path: Path) -> None:
    model = ScriptedModel([VALID])
    ctx = RunContext(Settings(), RunDir(tmp_path), LocalSandbox(tmp_path), ["test"], models=model)
    seen: list[ToolCallEvent] = []
    echo = AgentTool("echo", "Echo the text.", EchoArgs, lambda args: f"echoed {args.text}", ends_turn=True)
    run_agent(ctx, "tutor", start_messages("system", "go"), [echo], Spend(), on_tool=seen.append)
    assert seen == [
        ToolCallEvent("c2", "tutor", "echo", {"text": "hi"}),
        ToolCallEvent("c2", "tutor", "echo", {"text": "hi"}, answer="echoed hi", ok=True),
    ]


def test_a_replayed_answer_streams_word_by_word() -> None:
    messages = start_messages("system", "go")
    recorder = RecordingClient(ScriptedModel([AIMessage(content="The Z peak  sits\nat 91 GeV.")]))
    recorder.complete(role="tutor", messages=messages, tools=[])
    pieces: list[str] = []
    cassette = Cassette(source="scripted", model="m", entry="chat", turns=recorder.turns)
    ReplayClient(cassette).complete(role="tutor", messages=messages, tools=[], on_token=pieces.append)
    assert pieces == ["The ", "Z ", "peak  ", "sits\n", "at ", "91 ", "GeV."]
