"""Host-side failures end the run as failed with the reason; a moved run keeps its identity; the backend of a
resumed run comes from the settings, never from the run directory."""

from __future__ import annotations

import errno
import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from rich.console import Console
from typer.testing import CliRunner

from madagents import rundir as rundir_module
from madagents import runner as runner_module
from madagents.chat import ChatContext, ChatSession
from madagents.cli import app
from madagents.context import NullReporter
from madagents.errors import RunFailedError
from madagents.rundir import RunDir, RunInfo
from madagents.session_cli import drive_chat
from madagents.settings import Settings
from tests.unit.test_agent_loop import ScriptedModel

cli = CliRunner()
RUN = ["run", "workflows/drell_yan.yaml", "--events", "200", "--sandbox", "local"]


def _no_space(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _ends_failed_in_one_paragraph(args: list[str], out: Path, reason: str) -> None:
    result = cli.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    printed = " ".join(result.output.split())
    assert reason in printed
    assert f"madagents run --resume {out}" in printed
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed"
    assert reason in status["error"]


def test_set_status_on_a_full_disk_rewrites_the_old_file_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rundir = RunDir.create(tmp_path / "run")
    rundir.set_status("running")

    @contextmanager
    def full_disk(_: Path) -> Iterator[Path]:
        _no_space()
        yield Path()

    monkeypatch.setattr(rundir_module, "atomic_path", full_disk)
    rundir.set_status("failed", "the host failed: OSError: [Errno 28] No space left on device")
    assert rundir.status().state == "failed"
    assert sorted(p.name for p in rundir.path.iterdir()) == ["status.json"]


def test_a_full_disk_before_the_graph_starts_ends_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_text = RunDir.write_text

    def fail_on_workflow(self: RunDir, relative: str, text: str) -> Path:
        if relative == "workflow.json":
            _no_space()
        return write_text(self, relative, text)

    monkeypatch.setattr(RunDir, "write_text", fail_on_workflow)
    out = tmp_path / "run"
    _ends_failed_in_one_paragraph([*RUN, "--out", str(out)], out, "No space left on device")


def test_a_checkpoint_that_cannot_be_written_ends_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_: Any, **__: Any) -> None:
        msg = "database or disk is full"
        raise sqlite3.OperationalError(msg)

    monkeypatch.setattr(SqliteSaver, "put", full)
    out = tmp_path / "run"
    _ends_failed_in_one_paragraph([*RUN, "--out", str(out)], out, "database or disk is full")


def _stopped_run(path: Path, sandbox: str = "local") -> RunDir:
    rundir = RunDir.create(path)
    info = RunInfo(run_id="original", workflow="drell_yan", sandbox=sandbox, command_line=["x"], started="2026-01-01")
    rundir.write_model("run.json", info)
    rundir.set_status("failed", "killed")
    return rundir


def test_a_moved_run_keeps_the_identity_stored_in_it(tmp_path: Path) -> None:
    rundir = _stopped_run(tmp_path / "original")
    moved = rundir.path.rename(tmp_path / "moved")
    assert RunDir.open(moved).run_id == "original"
    assert RunDir.create(tmp_path / "fresh").run_id == "fresh"


@pytest.fixture
def backend_of_resume(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The backends resumed runs were driven on (the graph itself is not run)."""
    seen: list[str] = []

    def drive(_: RunDir, __: Any, settings: Settings, *___: Any) -> Any:
        seen.append(settings.sandbox)
        msg = "stopped by the test"
        raise RunFailedError(msg)

    monkeypatch.setattr(runner_module, "_drive", drive)
    monkeypatch.setattr(
        runner_module, "resolve_backend", lambda requested: {"auto": "docker"}.get(requested, requested)
    )
    return seen


def test_resume_takes_the_backend_from_the_settings_not_from_run_json(
    tmp_path: Path, backend_of_resume: list[str]
) -> None:
    rundir = _stopped_run(tmp_path / "run", sandbox="local")  # as a tool in the sandbox could have rewritten it
    with pytest.raises(RunFailedError):
        runner_module.resume_run(rundir.path, Settings(sandbox="auto"), ["test"])
    assert backend_of_resume == ["docker"]


def test_resume_accepts_sandbox(tmp_path: Path, backend_of_resume: list[str]) -> None:
    rundir = _stopped_run(tmp_path / "run", sandbox="docker")
    result = cli.invoke(app, ["run", "--resume", str(rundir.path), "--sandbox", "dask"])
    assert result.exit_code == 1, result.output
    assert backend_of_resume == ["dask"]


def test_a_moved_chat_session_resumes_its_conversation(tmp_path: Path) -> None:
    settings = Settings(runs_dir=tmp_path)
    console = Console(file=io.StringIO())
    typed = iter(["hello"])
    model = ScriptedModel([AIMessage(content="Hi! What shall we simulate?")])
    drive_chat(tmp_path / "chat", model, settings, NullReporter(), console, lambda: next(typed, None))
    moved = (tmp_path / "chat").rename(tmp_path / "moved")
    drive_chat(moved, model, settings, NullReporter(), console, lambda: None, resume=True)
    context = ChatContext(settings, RunDir.open(moved), model, NullReporter(), lambda _: False)
    assert [message.text for message in ChatSession(context).state().messages] == [
        "hello",
        "Hi! What shall we simulate?",
    ]
