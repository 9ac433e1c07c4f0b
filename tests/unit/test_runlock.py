"""One process at a time per run directory; the second one is told who holds it (exit 2, one paragraph)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.errors import UserInputError
from madagents.rundir import RunDir, RunInfo
from madagents.runlock import LOCK_FILE, holding

runner = CliRunner()
HOLDER = ["madagents", "run", "workflows/drell_yan.yaml"]


def _stopped_run(path: Path) -> RunDir:
    rundir = RunDir.create(path)
    info = RunInfo(run_id="r1", workflow="drell_yan", sandbox="local", command_line=HOLDER, started="2026-01-01")
    rundir.write_model("run.json", info)
    rundir.set_status("failed", "killed")
    return rundir


def test_a_second_holder_is_refused_with_the_holders_name(tmp_path: Path) -> None:
    with holding(tmp_path, HOLDER), pytest.raises(UserInputError) as refused:  # noqa: SIM117 - nested on purpose
        with holding(tmp_path, ["madagents", "run", "--resume", str(tmp_path)]):
            pytest.fail("two holders at once")
    message = str(refused.value)
    assert f"in use by process {os.getpid()} on {socket.gethostname()}" in message
    assert "(madagents run workflows/drell_yan.yaml) since 20" in message


def test_the_lock_is_free_after_the_block_even_after_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), holding(tmp_path, HOLDER):
        raise RuntimeError
    with holding(tmp_path, HOLDER):
        pass


def test_a_symlink_in_place_of_the_lock_file_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_FILE).symlink_to(target)
    with pytest.raises(UserInputError, match="cannot lock the run directory"), holding(tmp_path / "run", HOLDER):
        pass
    assert not target.exists()


@pytest.mark.parametrize("command", [["run", "--resume"], ["rewind"]])
def test_resume_or_rewind_of_a_held_run_exits_2_naming_the_holder(tmp_path: Path, command: list[str]) -> None:
    rundir = _stopped_run(tmp_path / "run")
    args = [*command, str(rundir.path), *(["analyst"] if command == ["rewind"] else [])]
    with holding(rundir.path, HOLDER):
        result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"is in use by process {os.getpid()}" in " ".join(result.output.split())
    assert rundir.status().error == "killed"  # the holder's status is left alone


def test_a_new_run_in_a_held_directory_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    with holding(out, HOLDER):
        result = runner.invoke(app, ["run", "workflows/drell_yan.yaml", "--events", "200", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"in use by process {os.getpid()}" in " ".join(result.output.split())
    assert not (out / "status.json").exists()
