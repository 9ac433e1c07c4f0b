"""A run killed with SIGKILL during a node resumes from its checkpoint and ends with identical results; a moved copy
resumes too; a second process is refused while one drives the run; a full disk ends the run as failed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
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


def _pause_early_reproduction(process: subprocess.Popen[bytes]) -> None:
    """Stop the reproduce.sh that runs beside the generation: the reviewer then waits for it until it is killed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for pid in _descendants(process.pid):
            with contextlib.suppress(OSError):
                if b"reproduce.sh" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.killpg(os.getpgid(pid), signal.SIGSTOP)  # its session: bash and the tools it started
                    return
        time.sleep(0.05)
    pytest.fail("the early reproduction never started")


# the reviewer takes a fraction of a second once the reproduction beside the generation is done: that one is paused,
# so the reviewer is still waiting for it when the run is killed
@pytest.mark.parametrize(
    ("node", "delay_s", "finished_before"),
    [("generator", 2.0, ["planner", "installer"]), ("reviewer", 0.5, ["planner", "installer", "generator", "analyst"])],
)
def test_killed_run_resumes_without_redoing_finished_nodes(
    reference: Path, tmp_path: Path, node: str, delay_s: float, finished_before: list[str]
) -> None:
    out = tmp_path / "run"
    process = _start_madagents("run", *ARGS, "--out", str(out))
    if node == "reviewer":
        _pause_early_reproduction(process)
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

    if node == "generator":  # the resumed run checks its reproduction beside the generation too, not after it
        started = {e.node: e.time for e in RunDir(out).trace_events() if e.event == "node_start"}  # the last ones
        regenerated = (out / "verify/reproduced/steps/01-generate/request.json").stat().st_mtime
        assert started["generator"] < regenerated < started["analyst"]

    expected, found = load_hist(reference / "hists/m_mumu.json"), load_hist(out / "hists/m_mumu.json")
    assert np.array_equal(expected.values(flow=True), found.values(flow=True))
    with uproot.open(reference / "events/events.root") as a, uproot.open(out / "events/events.root") as b:
        for branch in ["muon_pt", "muon_eta", "mhat"]:
            assert a["events"][branch].array().tolist() == b["events"][branch].array().tolist()


def test_ctrl_c_stops_the_run_and_says_how_to_continue_it(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [*COMMAND, "run", *ARGS, "--out", str(out)]
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for_node(out, "generator")
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends the terminal's foreground process
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert f"continue it with `madagents run --resume {out}`" in " ".join(stderr.split())
    assert "Traceback" not in stderr
    assert json.loads((out / "status.json").read_text())["state"] == "failed"
    assert not _working_in(out), "a tool of the interrupted run still runs"

    resumed = _madagents("run", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    _same_histogram(reference, out)


def _working_in(directory: Path) -> list[int]:
    """Processes whose working directory is in ``directory`` (the run's tools, reproduce.sh)."""
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        with contextlib.suppress(OSError):
            if cwd.resolve().is_relative_to(directory):
                found.append(int(cwd.parent.name))
    return found


def _same_histogram(reference: Path, run: Path) -> None:
    expected, found = load_hist(reference / "hists/m_mumu.json"), load_hist(run / "hists/m_mumu.json")
    assert np.array_equal(expected.values(flow=True), found.values(flow=True))


def test_a_moved_copy_rewinds_and_resumes(reference: Path, tmp_path: Path) -> None:
    copied = tmp_path / "copied"
    shutil.copytree(reference, copied)
    moved = copied.rename(tmp_path / "moved")
    rewound = _madagents("rewind", str(moved), "analyst")
    assert rewound.returncode == 0, rewound.stderr
    resumed = _madagents("run", "--resume", str(moved))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((moved / "status.json").read_text())["state"] == "succeeded"
    starts = [e.node for e in RunDir(moved).trace_events() if e.event == "node_start"]
    assert (starts.count("generator"), starts.count("analyst")) == (1, 2)
    _same_histogram(reference, moved)


def test_a_second_process_is_refused_while_the_run_goes_on(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = _start_madagents("run", *ARGS, "--out", str(out))
    _wait_for_node(out, "generator")
    second = _madagents("run", "--resume", str(out))
    assert second.returncode == 2, second.stderr
    assert "Traceback" not in second.stderr
    assert f"is in use by process {process.pid} on" in " ".join(second.stderr.split())
    assert process.wait(timeout=600) == 0
    assert json.loads((out / "status.json").read_text())["state"] == "succeeded"
    _same_histogram(reference, out)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB tmpfs: room for a 200-event run and its reproduction, and quickly filled."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs the tests as root)")
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(where)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    # unbuffered: a buffered stream would hold the bytes that found no room and fail again when it is closed
    with filler.open("wb", buffering=0) as stream, contextlib.suppress(OSError):
        while True:
            stream.write(b"\0" * 65536)
    return filler


def test_a_full_disk_ends_the_run_failed_and_resume_continues_after_freeing_it(small_disk: Path) -> None:
    out = small_disk / "run"
    with subprocess.Popen(
        [*COMMAND, "run", *ARGS[:1], "--events", "200", "--seed", "77", "--out", str(out)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            _wait_for_node(out, "generator", timeout_s=120)
            filler = _fill(small_disk)  # the generator's files, its result and the next checkpoint find no space
            _, stderr = process.communicate(timeout=300)
        finally:
            process.kill()  # a failing test must not leave the run behind to be collected during a later one
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed"
    assert "No space left on device" in status["error"] or "disk is full" in status["error"]

    filler.unlink()
    resumed = _madagents("run", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "status.json").read_text())["state"] == "succeeded"
