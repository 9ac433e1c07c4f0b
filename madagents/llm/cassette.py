"""Cassettes: every model request and response of a session, so the session can be replayed without the model.

A replayed request must equal a recorded one (a mismatch fails with a diff); the tools still run for real.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from pydantic import BaseModel, Field

from madagents.llm.client import RETRIES, ModelAccessError, ModelClient, TokenCallback, ToolSchema
from madagents.llm.redact import redact

__all__ = [
    "Cassette",
    "CassetteTurn",
    "RecordingClient",
    "ReplayClient",
    "ReplayMismatchError",
    "RunSummary",
    "canonical_request",
]


class HistogramSummary(BaseModel):
    bins: int
    entries: float
    values_sha256: str = Field(description="SHA-256 of the bin contents, rounded to 12 significant digits.")
    edges: list[float] | None = Field(default=None, description="Bin edges, for `replay --statistical`.")
    sumw: list[float] | None = Field(default=None, description="Sum of weights per bin (no under/overflow).")
    sumw2: list[float] | None = Field(default=None, description="Sum of squared weights per bin.")

    def exact_part(self) -> tuple[int, float, str]:
        """What `replay --exact` compares: the contents' hash, not the contents."""
        return self.bins, self.entries, self.values_sha256


class RunSummary(BaseModel):
    """What a replay must reproduce: the outcome and the statistics of every artifact, no timestamps."""

    state: str
    error: str | None = None
    n_events: int | None = None
    sigma_pb: float | None = None
    sigma_err_pb: float | None = None
    fiducial_sigma_pb: float | None = None
    fiducial_sigma_err_pb: float | None = None
    histograms: dict[str, HistogramSummary] = Field(default_factory=dict)
    assumption_topics: list[str] = Field(default_factory=list)


class CassetteTurn(BaseModel):
    role: str
    request: dict[str, Any] = Field(description="Messages sent and tools offered (canonical form).")
    response: dict[str, Any] = Field(
        default_factory=dict, description="The model's message: content, tool_calls, usage."
    )
    error: str | None = Field(default=None, description="The endpoint's failure instead of a response.")


class Cassette(BaseModel):
    """One recorded session: how it was started, every model turn, and the outputs it produced."""

    source: Literal["scripted", "recorded"] = Field(
        description="scripted: model turns written by hand or by a test script, not a real model."
    )
    note: str = ""
    model: str
    entry: Literal["reproduce", "chat"]
    task: str | None = Field(default=None, description="The task text (reproduce).")
    user_inputs: list[str] = Field(default_factory=list, description="What the user typed (chat), in order.")
    seed: int | None = None
    max_events: int | None = None
    backend: Literal["local", "docker", "dask"] = Field(
        default="local",
        description="The sandbox the tools ran in, where a replay runs them too: the installer's prompt names it and "
        "its inspections (paths, versions) depend on it. Cassettes without this key were recorded on local.",
    )
    expected_failure: str | None = Field(
        default=None,
        description="Why this recorded session fails and should: a replay then passes only if it fails the same way. "
        "Unmarked, a session that failed (an endpoint error, a failed run, a tutor that never answered) replays as a "
        "failure.",
    )
    turns: list[CassetteTurn] = Field(default_factory=list)
    outputs: list[RunSummary] = Field(default_factory=list, description="Summary of each run the session made.")

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(self.model_dump_json(indent=1)) + "\n")

    @classmethod
    def load(cls, path: Path) -> Cassette:
        return cls.model_validate_json(path.read_text())


def canonical_request(messages: Sequence[BaseMessage], tools: Sequence[ToolSchema]) -> dict[str, Any]:
    """The parts of a request that decide the model's answer, in a stable JSON-able form.

    Each offered tool is named with a digest of its schema: a model shown other arguments or descriptions might
    have answered differently, so a changed schema is a mismatch too.
    """
    return {
        "messages": [_canonical_message(message) for message in messages],
        "tools": {tool["function"]["name"]: schema_digest(tool) for tool in tools},
    }


def schema_digest(tool: ToolSchema) -> str:
    text = json.dumps(tool, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical_message(message: BaseMessage) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": message.type, "content": redact(message.text)}
    if isinstance(message, AIMessage) and message.tool_calls:
        entry["tool_calls"] = [
            {"name": call["name"], "args": call["args"], "id": call["id"]} for call in message.tool_calls
        ]
    if isinstance(message, AIMessage) and message.invalid_tool_calls:
        entry["invalid_tool_calls"] = _invalid_calls(message)
    if isinstance(message, ToolMessage):
        entry["tool_call_id"] = message.tool_call_id
    return entry


def response_to_dict(message: AIMessage) -> dict[str, Any]:
    usage = message.usage_metadata or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    response = {
        "content": message.text,
        "tool_calls": [{"name": call["name"], "args": call["args"], "id": call["id"]} for call in message.tool_calls],
        "usage": {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"]},
    }
    if message.invalid_tool_calls:  # arguments that were not JSON: kept, so a replay sees the same broken call
        response["invalid_tool_calls"] = _invalid_calls(message)
    if message.response_metadata.get(RETRIES):  # kept, so a replay spends the same budget
        response[RETRIES] = message.response_metadata[RETRIES]
    return response


def _invalid_calls(message: AIMessage) -> list[dict[str, Any]]:
    return [
        {"name": call["name"], "args": call["args"], "id": call["id"], "error": call["error"]}
        for call in message.invalid_tool_calls
    ]


def response_from_dict(data: dict[str, Any]) -> AIMessage:
    usage = data.get("usage", {"input_tokens": 0, "output_tokens": 0})
    return AIMessage(
        content=data.get("content", ""),
        tool_calls=[{**call, "type": "tool_call"} for call in data.get("tool_calls", [])],
        invalid_tool_calls=[{**call, "type": "invalid_tool_call"} for call in data.get("invalid_tool_calls", [])],
        usage_metadata={**usage, "total_tokens": usage["input_tokens"] + usage["output_tokens"]},
        response_metadata={RETRIES: data[RETRIES]} if data.get(RETRIES) else {},
    )


WORDS = re.compile(r"\s*\S+\s*|\s+")


class ReplayMismatchError(Exception):
    """The session asked the model something the cassette does not hold; the message shows the difference."""


class RecordingClient:
    """Passes every turn to ``inner`` and keeps request and response for the cassette."""

    def __init__(self, inner: ModelClient) -> None:
        self.inner = inner
        self.turns: list[CassetteTurn] = []

    def model_name(self, role: str) -> str:
        return self.inner.model_name(role)

    def complete(
        self,
        *,
        role: str,
        messages: Sequence[BaseMessage],
        tools: Sequence[ToolSchema],
        on_token: TokenCallback | None = None,
    ) -> AIMessage:
        request = canonical_request(messages, tools)
        try:
            reply = self.inner.complete(role=role, messages=messages, tools=tools, on_token=on_token)
        except ModelAccessError as exc:  # part of the session: a replay fails at the same request, the same way
            self.turns.append(CassetteTurn(role=role, request=request, error=str(exc)))
            raise
        self.turns.append(CassetteTurn(role=role, request=request, response=response_to_dict(reply)))
        return reply


class ReplayClient:
    """Answers each request with the recorded response to the same request."""

    def __init__(self, cassette: Cassette, token_delay_s: float = 0.0) -> None:
        self.cassette = cassette
        self.token_delay_s = token_delay_s
        """Pause between streamed words, so a demo's answers arrive as a model's would."""
        self._used: set[int] = set()

    def model_name(self, role: str) -> str:
        del role  # a cassette holds the turns of every role, under the model recorded in its header
        return self.cassette.model

    def complete(
        self,
        *,
        role: str,
        messages: Sequence[BaseMessage],
        tools: Sequence[ToolSchema],
        on_token: TokenCallback | None = None,
    ) -> AIMessage:
        request = canonical_request(messages, tools)
        unused = [i for i in range(len(self.cassette.turns)) if i not in self._used]
        for index in unused:
            turn = self.cassette.turns[index]
            if turn.role == role and turn.request == request:
                self._used.add(index)
                if turn.error is not None:
                    raise ModelAccessError(turn.error)
                reply = response_from_dict(turn.response)
                if on_token is not None:
                    self._stream(reply.text, on_token)
                return reply
        raise ReplayMismatchError(_mismatch(role, request, [self.cassette.turns[i] for i in unused]))

    def _stream(self, text: str, on_token: TokenCallback) -> None:
        """Word by word, as a model streams (a recorded answer arrives whole)."""
        for index, piece in enumerate(WORDS.findall(text)):
            if index and self.token_delay_s:
                time.sleep(self.token_delay_s)
            on_token(piece)

    def unused_turns(self) -> int:
        return len(self.cassette.turns) - len(self._used)


def _mismatch(role: str, request: dict[str, Any], candidates: list[CassetteTurn]) -> str:
    if not candidates:
        return f"the {role} asked the model once more than the cassette recorded ({len(request['messages'])} messages)"
    same_role = [turn for turn in candidates if turn.role == role] or candidates
    expected = json.dumps(same_role[0].request, indent=1, ensure_ascii=False).splitlines()
    actual = json.dumps(request, indent=1, ensure_ascii=False).splitlines()
    diff = "\n".join(difflib.unified_diff(expected, actual, "cassette", "this run", lineterm="", n=2))
    why = _why_tools_differ(same_role[0].request.get("tools"), request["tools"])
    return f"the {role}'s request is not in the cassette; closest recorded request differs:\n{diff}{why}"


def _why_tools_differ(recorded: Any, offered: dict[str, str]) -> str:
    rerecord = (
        "re-record it (scripted cassettes: python -m tests.replay.scripted; real-model ones: "
        "tests/replay/real/record.sh)"
    )
    if not isinstance(recorded, dict):
        return f"\nthe cassette names its tools without their schemas (an older madagents recorded it): {rerecord}"
    changed = sorted(name for name, digest in offered.items() if recorded.get(name, digest) != digest)
    if not changed:
        return ""
    return f"\nthe schema of {', '.join(changed)} changed since the cassette was recorded: {rerecord}"
