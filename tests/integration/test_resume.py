"""A run killed with SIGKILL during a node resumes from its checkpoint and ends with identical results."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import uproot

from madagents.rundir import RunDir
from madagents.validation import load_hist

pytestmark = pytest.mark.slow

ARGS = ["workflows/drell_yan.yaml", "--events", "1000", "--seed", "77"]
ENV = {**os.environ, "MADAGENTS_VERIFY_EVENTS": "300", "MADAGENTS_SANDBOX": "local"}


COMMAND = [sys.executable, "-m", "madagents"]


def _madagents(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], env=ENV, capture_output=True, text=True, check=False)


def _start_madagents(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*COMMAND, *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found.extend(kids := children.get(todo.pop(), []))
        todo.extend(kids)
    return found


def _kill_everything(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the run and every process it started, as a crash of the machine would."""
    for pid in [process.pid, *_descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def _wait_for_node(run_dir: Path, node: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        trace = run_dir / "trace.jsonl"
        if trace.exists() and f'"node_start","node":"{node}"' in trace.read_text():
            return
        time.sleep(0.2)
    pytest.fail(f"the run never reached {node}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    finished = _madagents("run", *ARGS, "--out", str(out))
    assert finished.returncode == 0, finished.stderr
    return out


@pytest.mark.parametrize(
    ("node", "delay_s", "finished_before"),
    [("generator", 2.0, ["planner", "installer"]), ("reviewer", 1.0, ["planner", "installer", "generator", "analyst"])],
)
def test_killed_run_resumes_without_redoing_finished_nodes(
    reference: Path, tmp_path: Path, node: str, delay_s: float, finished_before: list[str]
) -> None:
    out = tmp_path / "run"
    process = _start_madagents("run", *ARGS, "--out", str(out))
    _wait_for_node(out, node)
    time.sleep(delay_s)
    _kill_everything(process)
    assert json.loads((out / "status.json").read_text())["state"] == "running"
    assert not (out / "report.md").exists() or node == "reviewer"

    resumed = _madagents("run", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "status.json").read_text())["state"] == "succeeded"

    starts = [e.node for e in RunDir(out).trace_events() if e.event == "node_start"]
    for done in finished_before:
        assert starts.count(done) == 1, f"{done} was redone: {starts}"
    assert starts.count(node) == 2

    expected, found = load_hist(reference / "hists/m_mumu.json"), load_hist(out / "hists/m_mumu.json")
    assert np.array_equal(expected.values(flow=True), found.values(flow=True))
    with uproot.open(reference / "events/events.root") as a, uproot.open(out / "events/events.root") as b:
        for branch in ["muon_pt", "muon_eta", "mhat"]:
            assert a["events"][branch].array().tolist() == b["events"][branch].array().tolist()
    assert (reference / "events/events.hepmc3").read_bytes() == (out / "events/events.hepmc3").read_bytes()
