"""Every bad input ends with exit code 2, one paragraph naming what to fix, no traceback and no run directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.rundir import RunDir
from tests.conftest import WorkflowWriter

runner = CliRunner()


def _fails_cleanly(args: list[str], expected: str, out: Path) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert expected in " ".join(result.output.split())
    assert not (out / "status.json").exists()


def test_help_lists_run() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "run" in result.output


def test_missing_workflow_file(tmp_path: Path) -> None:
    _fails_cleanly(["run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")], "not found", tmp_path / "o")


def test_malformed_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    _fails_cleanly(["run", str(path), "--out", str(tmp_path / "o")], "is not valid YAML at line", tmp_path / "o")


def test_unknown_key(write_workflow: WorkflowWriter, tmp_path: Path) -> None:
    path = write_workflow(evnts=5)
    _fails_cleanly(["run", str(path), "--out", str(tmp_path / "o")], "did you mean 'events'?", tmp_path / "o")


@pytest.mark.parametrize("events", ["0", "-3"])
def test_non_positive_events_option(events: str, tmp_path: Path) -> None:
    args = ["run", "workflows/drell_yan.yaml", "--events", events, "--out", str(tmp_path / "o")]
    _fails_cleanly(args, f"events: Input should be greater than 0 (you wrote {events})", tmp_path / "o")


def test_zero_energy(write_workflow: WorkflowWriter, tmp_path: Path) -> None:
    path = write_workflow(beams={"sqrt_s_gev": 0})
    _fails_cleanly(["run", str(path), "--out", str(tmp_path / "o")], "beams.sqrt_s_gev", tmp_path / "o")


def test_unknown_process(write_workflow: WorkflowWriter, tmp_path: Path) -> None:
    path = write_workflow(process={"name": "higgs", "final_state": ["mu+", "mu-"]})
    _fails_cleanly(["run", str(path), "--out", str(tmp_path / "o")], "unknown process 'higgs'", tmp_path / "o")


def test_suggestions_in_brackets_reach_the_terminal(write_workflow: WorkflowWriter, tmp_path: Path) -> None:
    path = write_workflow(process={"name": "drell_yan", "final_state": ["u", "u~"]})
    _fails_cleanly(["run", str(path), "--out", str(tmp_path / "o")], "choose one of [mu- mu+], [e- e+]", tmp_path / "o")


def test_unknown_particle(write_workflow: WorkflowWriter, tmp_path: Path) -> None:
    path = write_workflow(process={"name": "drell_yan", "final_state": ["mu+", "muon"]})
    _fails_cleanly(["run", str(path), "--out", str(tmp_path / "o")], "unknown particle 'muon'", tmp_path / "o")


def test_unwritable_output_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker / "run"
    _fails_cleanly(["run", "workflows/drell_yan.yaml", "--out", str(out)], "cannot write the run directory", out)


def test_output_directory_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["run", "workflows/drell_yan.yaml", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "already exists and is not empty" in " ".join(result.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_resume_of_something_that_is_not_a_run(tmp_path: Path) -> None:
    _fails_cleanly(["run", "--resume", str(tmp_path)], "is not a madagents run directory", tmp_path)


def test_resume_refuses_overrides(tmp_path: Path) -> None:
    _fails_cleanly(["run", "--resume", str(tmp_path), "--events", "5"], "drop --events", tmp_path)


def test_resume_of_a_finished_run_points_to_its_report(tmp_path: Path) -> None:
    rundir = RunDir.create(tmp_path / "done")
    rundir.write_text("run.json", "{}")
    rundir.set_status("succeeded")
    result = runner.invoke(app, ["run", "--resume", str(rundir.path)])
    assert result.exit_code == 2
    assert "already succeeded; nothing to resume" in " ".join(result.output.split())


def test_validate_of_a_directory_that_is_no_run(tmp_path: Path) -> None:
    _fails_cleanly(["validate", str(tmp_path), "--sandbox", "local"], "is not a madagents run directory", tmp_path)


def test_reproduce_without_an_api_key_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    task = tmp_path / "task.md"
    task.write_text("Simulate Drell-Yan at 13 TeV.")
    result = runner.invoke(app, ["reproduce", str(task), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "no API key: set OPENAI_API_KEY" in " ".join(result.output.split())
    assert not (tmp_path / "run").exists()


def test_rewind_of_a_directory_that_is_no_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rewind", str(tmp_path), "analyst"])
    assert result.exit_code == 2
