"""The terminal chat without a model: greeting, session directory, --resume by name, true error hints.

The tutor's turns come from the scripted cassette (``--replay``) or from an endpoint that does not answer; the
input is a pipe, so these run the plain reader (the line editor is tried in a pseudo-terminal, test_chat_pty).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from madagents.chat_terminal import yes_no_question
from madagents.cli import app
from tests.replay.scripted import CASSETTES

runner = CliRunner()
CHAT_CASSETTE = CASSETTES / "student_chat_drell_yan.json"


@pytest.fixture(autouse=True)
def _runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADAGENTS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MADAGENTS_SANDBOX", "local")


def chat(*args: str, typed: str = "/quit\n") -> str:
    result = runner.invoke(app, ["chat", *args], input=typed)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_greeting_says_what_it_does_and_where_the_session_is(tmp_path: Path) -> None:
    output = chat("--replay", str(CHAT_CASSETTE))
    (session,) = (tmp_path / "runs").iterdir()
    assert output.startswith("madagents tutor. Ask for a collider simulation")
    assert "ask you before running it" in output
    assert "/plan show the proposed workflow" in output
    assert f"Session: {session}" in output
    assert output.endswith(f"Session kept in {session}; continue it with: madagents chat --resume {session}")


def test_resume_by_name_reopens_the_session_with_what_it_holds(tmp_path: Path) -> None:
    chat("--replay", str(CHAT_CASSETTE), typed="Hello\n/quit\n")
    (session,) = (tmp_path / "runs").iterdir()
    output = chat("--resume", session.name, "--replay", str(CHAT_CASSETTE), typed="/runs\n/quit\n")
    assert f"Session: {session} (resumed: 1 earlier messages)" in output
    assert "no runs yet" in output
    assert (session / "chat.sqlite").is_file()


def test_a_conversation_the_cassette_did_not_record_is_an_error_the_session_survives(tmp_path: Path) -> None:
    output = chat("--replay", str(CHAT_CASSETTE), typed="Hello\n/cost\n/quit\n")
    assert "error: the cassette holds no answer to this conversation" in output
    assert "'Can you simulate Drell-Yan at 13 TeV and plot the dimuon mass?'" in output
    assert "0 tokens" in output  # /cost still answered after the error
    assert "≥ 0.0 s CPU in sandboxed tools (0.0 s wall)" in output  # no run yet


def test_an_unreachable_endpoint_says_to_ask_again_not_to_resume_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADAGENTS_LLM__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("MADAGENTS_LLM__MAX_ATTEMPTS", "1")
    output = chat(typed="Hello\n/quit\n")
    assert "error: the model endpoint http://127.0.0.1:9/v1 failed for the tutor" in output
    assert "then ask again, or /quit (the session is kept)" in output
    assert "resume the run" not in output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--resume", "chat-20990101-000000"], "chat-20990101-000000 is not a chat session (no run.json)"),
        (["--replay", str(CASSETTES / "leptoquark_s1_reproduce.json")], "records a reproduce session, not a chat"),
        (["--replay", str(CHAT_CASSETTE), "--record", "x.json"], "--record and --replay exclude each other"),
    ],
)
def test_bad_options_are_one_paragraph_and_exit_2(args: list[str], expected: str) -> None:
    result = runner.invoke(app, ["chat", *args], input="/quit\n")
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split())


def test_the_confirmation_shows_its_choices() -> None:
    console = Console(record=True, width=80)
    console.print(yes_no_question("Generate them?"))
    assert console.export_text() == "Generate them? [y/N]\n"
