"""A checkpoint changed outside madagents is refused before anything of it runs (issue 14, finding 3).

LangGraph rebuilds a pydantic model that fails validation with ``model_construct``: without the runner's check, a
plan with shell in a step id would reach reproduce.sh, which the reviewer executes.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from typer.testing import CliRunner

from madagents.cli import app
from madagents.graph import build_graph
from madagents.rundir import RunDir
from madagents.runner import CHECKPOINTS, REWIND, checkpoint_serializer
from madagents.state import Plan

pytestmark = pytest.mark.slow


def test_a_doctored_plan_in_the_checkpoint_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADAGENTS_SANDBOX", "local")
    run_dir = tmp_path / "run"
    runner = CliRunner()
    started = runner.invoke(app, ["run", "workflows/drell_yan.yaml", "--events", "200", "--out", str(run_dir)])
    assert started.exit_code == 0, started.output
    assert runner.invoke(app, ["rewind", str(run_dir), "analyst"]).exit_code == 0
    rundir = RunDir.open(run_dir)
    checkpoint = rundir.file(REWIND).read_text()
    config: Any = {"configurable": {"thread_id": rundir.run_id, "checkpoint_ns": "", "checkpoint_id": checkpoint}}
    with contextlib.closing(sqlite3.connect(rundir.file(CHECKPOINTS), check_same_thread=False)) as connection:
        graph = build_graph(SqliteSaver(connection, serde=checkpoint_serializer()))
        snapshot = graph.get_state(config)
        plan: Plan = snapshot.values["plan"]
        pwned = tmp_path / "pwned"
        hostile = plan.steps[1].model_construct(**(dict(plan.steps[1]) | {"id": f"02-x$(touch {pwned})"}))
        doctored = Plan.model_construct(**(dict(plan) | {"steps": [plan.steps[0], hostile]}))
        forked = graph.update_state(config, {"plan": doctored}, as_node="dispatcher")
    rundir.write_text(REWIND, forked["configurable"]["checkpoint_id"])
    resumed = runner.invoke(app, ["run", "--resume", str(run_dir)])
    assert resumed.exit_code == 2, resumed.output
    assert "does not hold a valid run state" in " ".join(resumed.output.split())
    assert not pwned.exists()
    assert "Traceback" not in resumed.output
