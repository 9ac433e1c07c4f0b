"""Every bad input ends with exit code 2, one paragraph naming what to fix, no traceback and no run directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.errors import UserInputError
from madagents.rundir import RunDir, RunInfo
from tests.conftest import DRELL_YAN, REPO, WorkflowWriter

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
    _fails_cleanly(
        ["run", str(path), "--out", str(tmp_path / "o")], "choose one of [mu+, mu-]; [e+, e-]", tmp_path / "o"
    )


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


def test_workflow_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: drell_yan\ndescription: Z → μμ\n".encode("utf-16"))
    _fails_cleanly(["run", str(path), "--out", str(tmp_path / "o")], "is not UTF-8 text", tmp_path / "o")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "MADAGENTS_SANDBOX",
            "lcoal",
            "MADAGENTS_SANDBOX='lcoal': Input should be 'auto', 'local', 'docker' or 'dask'",
        ),
        ("MADAGENTS_DOCKER__MEMORY_MB", "lots", "MADAGENTS_DOCKER__MEMORY_MB='lots': Input should be a valid integer"),
        ("MADAGENTS_LLM__ROLE_MODELS", "{planner", "MADAGENTS_LLM__ROLE_MODELS is not valid JSON"),
    ],
)
def test_bad_settings_in_the_environment(
    variable: str, value: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    _fails_cleanly(["run", "workflows/drell_yan.yaml", "--out", str(tmp_path / "o")], expected, tmp_path / "o")


def test_out_naming_an_existing_file(tmp_path: Path) -> None:
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    _fails_cleanly(["run", "workflows/drell_yan.yaml", "--out", str(existing)], "is an existing file", tmp_path)
    assert existing.read_text() == "mine"


def test_out_with_a_control_character(tmp_path: Path) -> None:
    out = tmp_path / "run\ntouch pwned"
    _fails_cleanly(["run", "workflows/drell_yan.yaml", "--out", str(out)], "contains control characters", out)
    assert not out.exists()


def test_events_beyond_64_bits(write_workflow: WorkflowWriter, tmp_path: Path) -> None:
    too_many = str(2**64)
    args = ["run", "workflows/drell_yan.yaml", "--events", too_many, "--out", str(tmp_path / "o")]
    _fails_cleanly(args, f"events: Input should be less than 2^63 = {2**63}", tmp_path / "o")
    path = write_workflow(events=2**64)
    _fails_cleanly(["run", str(path), "--out", str(tmp_path / "o")], f"you wrote {too_many}", tmp_path / "o")


def test_events_beyond_the_wall_time_budget_are_refused_with_the_estimate(
    write_workflow: WorkflowWriter, tmp_path: Path
) -> None:
    path = write_workflow(events=1_000_000_000_000)
    expected = "events: 1000000000000 events need at least 2.31e+03 days of CPU"
    _fails_cleanly(["run", str(path), "--out", str(tmp_path / "o")], expected, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_events_within_a_raised_budget_are_not_refused_by_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    from madagents.agents.estimate import check_event_budget  # noqa: PLC0415
    from madagents.workflow import load_workflow  # noqa: PLC0415

    workflow = load_workflow(Path("workflows/drell_yan.yaml"), events=1_000_000_000)
    check_event_budget(workflow, wall_s=1e6)
    with pytest.raises(UserInputError, match="ask for at most 72000000 events, or raise MADAGENTS_BUDGET__WALL_S"):
        check_event_budget(workflow, wall_s=4 * 3600)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"\x87\x00\xff binary", "not UTF-8 text"), (b"name: drell_yan\n", "is not a cassette (the file: Invalid JSON")],
)
def test_replay_of_a_file_that_is_not_a_cassette(content: bytes, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "not-a-cassette"
    path.write_bytes(content)
    _fails_cleanly(["replay", str(path), "--out", str(tmp_path / "o")], expected, tmp_path / "o")


def test_chat_resume_of_a_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    rundir = RunDir.create(tmp_path / "run")
    info = RunInfo(run_id="run", workflow="drell_yan", sandbox="local", command_line=["x"], started="2026-01-01")
    rundir.write_model("run.json", info)
    _fails_cleanly(["chat", "--resume", str(rundir.path)], "is a run directory, not a chat session", tmp_path / "o")


def test_reanalyze_of_a_directory_that_is_no_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["reanalyze", str(tmp_path), str(DRELL_YAN), "--out", str(tmp_path / "new")])
    assert result.exit_code == 2
    assert "is not a run directory (no status.json)" in " ".join(result.output.split())
    assert not (tmp_path / "new").exists()


def test_reanalyze_of_a_run_that_did_not_finish(tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text('{"state": "failed", "error": "killed"}')
    result = runner.invoke(app, ["reanalyze", str(tmp_path), str(DRELL_YAN), "--out", str(tmp_path / "new")])
    assert result.exit_code == 2
    assert "is not a finished run: its status is failed (killed)" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "code", "stream", "text"),
    [
        (["--help"], 0, "stdout", "An agentic collider-simulation assistant"),
        (["run", "no-such-workflow.yaml"], 2, "stderr", "workflow file no-such-workflow.yaml not found"),
        (["run"], 2, "stderr", "Missing argument"),
    ],
)
def test_the_command_keeps_its_exit_code_and_output_when_it_skips_the_teardown(
    args: list[str], code: int, stream: str, text: str
) -> None:
    command = [sys.executable, "-m", "madagents", *args]
    done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == code
    assert text in " ".join(getattr(done, stream).split())
