"""Replay regression: the shipped cassettes re-run with real tools and the outputs match the recorded ones.

Both cassettes are scripted (model turns from tests/replay/scripted.py, labelled so in the file); the tools,
Pythia8 and the analysis run for real.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.llm.cassette import Cassette
from tests.replay.scripted import CASSETTES

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(autouse=True)
def _local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADAGENTS_SANDBOX", "local")


@pytest.mark.parametrize("name", ["leptoquark_s1_reproduce", "student_chat_drell_yan"])
def test_cassette_replays_with_identical_outputs(name: str, tmp_path: Path) -> None:
    cassette = Cassette.load(CASSETTES / f"{name}.json")
    assert cassette.source == "scripted"
    assert "scripted" in cassette.note
    result = runner.invoke(app, ["replay", str(CASSETTES / f"{name}.json"), "--out", str(tmp_path / "replay")])
    assert result.exit_code == 0, result.output
    assert "replay matches the cassette" in result.output
    (summary,) = cassette.outputs
    assert summary.state == "succeeded"


def test_leptoquark_reproduction_delivers_what_the_task_asks(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["replay", str(CASSETTES / "leptoquark_s1_reproduce.json"), "--out", str(tmp_path / "replay")]
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "replay" / "run"
    assert (run / "events" / "events.root").is_file()
    assert (run / "hists" / "m_muj.png").is_file()
    assert (run / "reproduce.sh").is_file()
    assert (run / "workflow.yaml").is_file()  # the model's plan, re-runnable without a model
    report = (run / "report.md").read_text()
    for topic in ("Collider energy", "Leptoquark mass", "Lepton flavour", "Cuts", "Binning", "Leptoquark model"):
        assert f"**{topic}**" in report
    assert "## Model usage" in report


def replay_tampered(tmp_path: Path, tamper: Callable[[dict[str, Any]], None]) -> str:
    """Replay the leptoquark cassette after ``tamper`` changed it; the replay must fail. Returns its output."""
    data = json.loads((CASSETTES / "leptoquark_s1_reproduce.json").read_text())
    tamper(data)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    result = runner.invoke(app, ["replay", str(tampered), "--out", str(tmp_path / "replay")])
    assert result.exit_code == 1
    return " ".join(result.output.split())


def test_a_changed_request_is_a_clear_failure_with_a_diff(tmp_path: Path) -> None:
    def prefer_electrons(data: dict[str, Any]) -> None:
        data["turns"][0]["request"]["messages"][0]["content"] += " Prefer electrons."

    output = replay_tampered(tmp_path, prefer_electrons)
    assert "model turn mismatch: the planner's request is not in the cassette" in output
    assert "Prefer electrons." in output


def test_a_changed_tool_schema_is_a_mismatch_that_says_so(tmp_path: Path) -> None:
    def other_schema(data: dict[str, Any]) -> None:  # as if the Workflow schema had changed since the recording
        data["turns"][0]["request"]["tools"]["submit_workflow"] = "0" * 16

    output = replay_tampered(tmp_path, other_schema)
    assert "the schema of submit_workflow changed since the cassette was recorded: re-record it" in output


def test_replay_of_a_missing_cassette(tmp_path: Path) -> None:
    result = runner.invoke(app, ["replay", str(tmp_path / "none.json")])
    assert result.exit_code == 2
    assert "cannot read cassette" in result.output
