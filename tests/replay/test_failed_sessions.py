"""A cassette that recorded a failed session replays as a failure (exit 1) unless it marks the failure expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.llm.cassette import Cassette
from madagents.sessions import expectation_problems
from tests.replay.scripted import CASSETTES

runner = CliRunner()
CONTEXT_ERROR = "Error code: 400 - This model's maximum context length is 8192 tokens"


@pytest.mark.parametrize(
    ("name", "failure"),
    [
        ("smollm2_leptoquark_reproduce.json", "the model endpoint failed (planner): the model endpoint"),
        ("smollm2_student_chat.json", "the model endpoint failed (tutor): the model endpoint"),
    ],
)
def test_the_real_model_cassettes_record_failures_and_say_so(name: str, failure: str) -> None:
    cassette = Cassette.load(CASSETTES / name)
    assert cassette.expected_failure is not None
    assert expectation_problems(cassette) == []
    problems = expectation_problems(cassette.model_copy(update={"expected_failure": None}))
    assert any(problem.startswith(f"the recorded session failed: {failure}") for problem in problems), problems


def _failed_chat(path: Path, expected_failure: str | None) -> Path:
    """The scripted student chat, cut to its first question, which the endpoint refused (HTTP 400)."""
    chat = Cassette.load(CASSETTES / "student_chat_drell_yan.json")
    refused = chat.turns[0].model_copy(update={"response": {}, "error": CONTEXT_ERROR})
    failed = chat.model_copy(
        update={
            "user_inputs": [chat.user_inputs[0], "/quit"],
            "turns": [refused],
            "outputs": [],
            "expected_failure": expected_failure,
        }
    )
    path.write_text(failed.model_dump_json())
    return path


@pytest.fixture(autouse=True)
def _local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADAGENTS_SANDBOX", "local")


def test_a_refused_chat_replays_as_a_failure(tmp_path: Path) -> None:
    result = runner.invoke(app, ["replay", str(_failed_chat(tmp_path / "c.json", None)), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert f"the recorded session failed: the model endpoint failed (tutor): {CONTEXT_ERROR}" in said
    assert 'add "expected_failure": "why" to the cassette' in said


def test_a_refused_chat_marked_as_expected_passes(tmp_path: Path) -> None:
    cassette = _failed_chat(tmp_path / "c.json", "pins the error message of an overflowing context")
    result = runner.invoke(app, ["replay", str(cassette), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "the session failed as the cassette expects" in result.output
