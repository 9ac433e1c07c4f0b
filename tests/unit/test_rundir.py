from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from madagents.errors import UserInputError
from madagents.rundir import RunDir, ToolTime, TraceEvent, tool_time
from madagents.state import Assumption, AssumptionSource


def test_create_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(UserInputError, match="already exists and is not empty; choose a new --out, or --resume it"):
        RunDir.create(tmp_path)


def test_create_reports_an_unwritable_location(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UserInputError, match=r"cannot write the run directory .*choose a writable location with --out"):
        RunDir.create(blocker / "run")


def test_open_requires_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="is not a madagents run directory"):
        RunDir.open(tmp_path)


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path: Path) -> None:
    rundir = RunDir.create(tmp_path / "run")
    rundir.write_text("a/b.txt", "one")
    rundir.write_text("a/b.txt", "two")
    assert (tmp_path / "run/a/b.txt").read_text() == "two"
    assert sorted(p.name for p in (tmp_path / "run/a").iterdir()) == ["b.txt"]


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    rundir = RunDir.create(tmp_path / "run")
    rundir.write_text("x.txt", "complete")
    with pytest.raises(TypeError):
        rundir.write_text("x.txt", None)  # type: ignore[arg-type]
    assert (tmp_path / "run/x.txt").read_text() == "complete"


def test_status_and_trace_round_trip(tmp_path: Path) -> None:
    rundir = RunDir.create(tmp_path / "run")
    rundir.set_status("failed", "boom")
    assert (rundir.status().state, rundir.status().error) == ("failed", "boom")
    rundir.trace(TraceEvent(event="node_start", node="planner"))
    rundir.trace(TraceEvent(event="node_end", node="planner", seconds=0.5, ok=True))
    assert [(e.event, e.node) for e in rundir.trace_events()] == [("node_start", "planner"), ("node_end", "planner")]


def test_assumptions_yaml_has_every_field(tmp_path: Path) -> None:
    rundir = RunDir.create(tmp_path / "run")
    item = Assumption(topic="PDF", choice="NNPDF2.3", source=AssumptionSource.DEFAULT, reason="r", affects=["σ"])
    rundir.write_assumptions([item])
    (entry,) = yaml.safe_load((tmp_path / "run/assumptions.yaml").read_text())
    assert entry == {"topic": "PDF", "choice": "NNPDF2.3", "source": "default", "reason": "r", "affects": ["σ"]}


def test_artifacts_hash_results_but_not_bookkeeping(tmp_path: Path) -> None:
    rundir = RunDir.create(tmp_path / "run")
    rundir.write_text("hists/m.json", "{}")
    rundir.write_text("reproduce.sh", "#!/bin/bash\n")
    rundir.write_text("verify/reproduced/hists/m.json", "{}")
    rundir.set_status("running")
    rundir.trace(TraceEvent(event="node_start", node="planner"))
    records = {record.path: record for record in rundir.artifacts()}
    assert set(records) == {"hists/m.json", "reproduce.sh"}
    assert records["hists/m.json"].kind == "hist-json"
    assert records["reproduce.sh"].kind == "script"
    assert records["hists/m.json"].sha256 == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def test_tool_time_sums_the_tool_calls_of_a_sessions_runs(tmp_path: Path) -> None:
    for name, calls in {"01-a": [(2.0, 1.5), (1.0, None)], "02-b": [(4.0, 3.0)]}.items():
        run = RunDir.create(tmp_path / "runs" / name)
        run.trace(TraceEvent(event="node_end", seconds=100.0))  # the graph's nodes are not tools
        for seconds, cpu in calls:
            run.trace(TraceEvent(event="tool_call", tool="analyze", seconds=seconds, cpu_seconds=cpu))
    used = tool_time(tmp_path)
    assert used.wall_seconds == 7.0
    assert used.cpu_seconds == 4.5  # a call the sandbox could not measure counts as none: a lower bound
    assert tool_time(tmp_path / "nowhere") == ToolTime()
