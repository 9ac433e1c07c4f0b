"""Model calls are retried on rate limits, server errors and time-outs; every failed attempt counts in the budget."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from langchain_core.messages import AIMessage
from pydantic import SecretStr

from madagents.agents.loop import run_agent, start_messages
from madagents.context import RunContext
from madagents.llm.budget import Budget, BudgetExceededError, Spend
from madagents.llm.cassette import Cassette, RecordingClient, ReplayClient
from madagents.llm.client import RETRIES, LLMSettings, ModelAccessError, OpenAIClient
from madagents.rundir import RunDir
from madagents.sandbox import LocalSandbox
from madagents.settings import Settings
from tests.unit.test_agent_loop import ScriptedModel

FAST = LLMSettings(retry_wait_s=0.0, retry_wait_max_s=0.0, max_attempts=4)
REQUEST = httpx2.Request("POST", "http://model.test/v1/chat/completions")
ANSWER = AIMessage(content="done", usage_metadata={"input_tokens": 100, "output_tokens": 10, "total_tokens": 110})


def _status(error: type[openai.APIStatusError], code: int) -> openai.APIStatusError:
    return error(f"HTTP {code}", response=httpx2.Response(code, request=REQUEST), body=None)


class FlakyChatModel:
    """Stands in for ChatOpenAI: raises the given errors in turn, then answers."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def invoke(self, messages: Any) -> AIMessage:
        del messages
        self.calls += 1
        if self.calls <= len(self.failures):
            raise self.failures[self.calls - 1]
        return ANSWER


def _client(failures: list[Exception], settings: LLMSettings = FAST) -> tuple[OpenAIClient, FlakyChatModel]:
    client, fake = OpenAIClient(settings, SecretStr("k")), FlakyChatModel(failures)
    client._models[settings.model_for("planner")] = fake  # the client creates its ChatOpenAI lazily: use ours
    return client, fake


@pytest.mark.parametrize(
    "failure",
    [
        _status(openai.RateLimitError, 429),
        _status(openai.InternalServerError, 503),
        openai.APITimeoutError(REQUEST),
        httpx2.ReadTimeout("read timed out"),
    ],
    ids=["429", "5xx", "timeout", "read-timeout-while-streaming"],
)
def test_transient_failures_are_retried_and_counted(failure: Exception) -> None:
    client, fake = _client([failure, failure])
    reply = client.complete(role="planner", messages=start_messages("s", "u"), tools=[])
    assert reply.text == "done"
    assert fake.calls == 3
    assert reply.response_metadata[RETRIES] == 2


def test_a_request_the_endpoint_refuses_is_not_retried() -> None:
    client, fake = _client([_status(openai.AuthenticationError, 401)])
    with pytest.raises(ModelAccessError, match=r"AuthenticationError.*1 attempt\(s\)"):
        client.complete(role="planner", messages=start_messages("s", "u"), tools=[])
    assert fake.calls == 1


def test_retries_stop_after_max_attempts_with_a_clean_error() -> None:
    client, fake = _client([_status(openai.RateLimitError, 429)] * 10, FAST.model_copy(update={"max_attempts": 3}))
    with pytest.raises(ModelAccessError, match=r"RateLimitError.*3 attempt\(s\)"):
        client.complete(role="planner", messages=start_messages("s", "u"), tools=[])
    assert fake.calls == 3


def test_the_wait_between_attempts_comes_from_the_settings() -> None:
    retrying = OpenAIClient(LLMSettings(retry_wait_s=3.0, retry_wait_max_s=5.0), SecretStr("k"))._retrying()
    first, late = retrying.wait(_state(1)), retrying.wait(_state(6))
    assert 3.0 <= first <= 5.0
    assert late <= 5.0


def _state(attempt: int) -> Any:
    class State:
        attempt_number = attempt

    return State()


def test_failed_attempts_count_in_the_budget_and_show_in_the_trace(tmp_path: Path) -> None:
    retried = ANSWER.model_copy(update={"response_metadata": {RETRIES: 2}})
    ctx = RunContext(Settings(), RunDir(tmp_path), LocalSandbox(tmp_path), ["test"], models=ScriptedModel([retried]))
    outcome = run_agent(ctx, "planner", start_messages("system", "go"), [], Spend())
    assert [turn.failed for turn in outcome.spend.turns] == [True, True, False]
    assert outcome.spend.tokens == 3 * 100 + 10
    (event,) = [e for e in ctx.rundir.trace_events() if e.event == "model_turn"]
    assert (event.retries, event.tokens) == (2, 310)
    with pytest.raises(BudgetExceededError, match="token budget used up"):
        outcome.spend.check(Budget(tokens=300))


def test_a_replay_spends_what_the_recorded_retries_spent() -> None:
    client, _ = _client([_status(openai.RateLimitError, 429)])
    recorder = RecordingClient(client)
    messages = start_messages("system", "go")
    recorder.complete(role="planner", messages=messages, tools=[])
    cassette = Cassette(source="recorded", model="m", entry="reproduce", turns=recorder.turns)
    replayed = ReplayClient(Cassette.model_validate_json(cassette.model_dump_json()))
    reply = replayed.complete(role="planner", messages=messages, tools=[])
    assert reply.response_metadata[RETRIES] == 1


@pytest.fixture
def streaming_endpoint() -> Iterator[tuple[str, list[bytes]]]:
    """An OpenAI-compatible endpoint on 127.0.0.1 that answers every chat request with HTTP 200 and the SSE events
    put in its list: what llama-cpp-python's server sends when the model fails after the request was accepted."""
    events: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for event in events:
                self.wfile.write(b"data: " + event + b"\n\n")

        def log_message(self, *args: object) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1", events
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], r"EmptyStreamError: the answer's stream ended before its first chunk"),
        ([b"[DONE]"], r"EmptyStreamError: the answer's stream ended before its first chunk"),
        (
            [b'{"error": {"message": "Requested tokens (16367) exceed context window of 8192"}}'],
            r"APIError: Requested tokens \(16367\) exceed context window of 8192",
        ),
    ],
    ids=["closed", "done-only", "error-event"],
)
def test_a_stream_without_an_answer_is_an_endpoint_failure(
    streaming_endpoint: tuple[str, list[bytes]], events: list[bytes], expected: str
) -> None:
    """Not a traceback from langchain-core: the chat tells the student which setting to check."""
    url, sent = streaming_endpoint
    sent.extend(events)
    client = OpenAIClient(FAST.model_copy(update={"base_url": url, "max_attempts": 1}), SecretStr("k"))
    with pytest.raises(ModelAccessError, match=rf"failed for the tutor \({expected}.*check MADAGENTS_LLM__BASE_URL"):
        client.complete(role="tutor", messages=start_messages("s", "u"), tools=[], on_token=lambda _: None)
