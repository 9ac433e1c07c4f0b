from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import madagents.sandbox as sandbox_package
from madagents.sandbox import DockerLimits, ExecResult, LocalSandbox, local, make_sandbox
from madagents_tools.contract import read_progress


def test_runs_in_the_work_directory_and_logs_output(tmp_path: Path) -> None:
    sandbox = LocalSandbox(tmp_path)
    lines: list[str] = []
    result = sandbox.run(
        [sys.executable, "-c", "import os; print(os.getcwd()); print('second')"],
        timeout_s=30,
        log_path="logs/out.txt",
        on_line=lines.append,
    )
    assert result.exit_code == 0
    assert not result.timed_out
    assert lines == [str(tmp_path), "second"]
    assert (tmp_path / "logs/out.txt").read_text() == f"{tmp_path}\nsecond\n"


def test_secrets_of_the_host_do_not_reach_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "also-secret")
    result = LocalSandbox(tmp_path).run(
        [sys.executable, "-c", "import os; print(sorted(os.environ))"], timeout_s=30, log_path="env.txt"
    )
    assert "OPENAI_API_KEY" not in result.output_tail
    assert "AWS_SECRET_ACCESS_KEY" not in result.output_tail
    assert "PATH" in result.output_tail


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print('started', flush=True); time.sleep(60)"
    )
    result = LocalSandbox(tmp_path).run([sys.executable, "-c", code], timeout_s=1.0, log_path="log.txt")
    assert result.timed_out
    assert result.exit_code != 0
    assert result.seconds < 20
    assert "started" in result.output_tail


def test_exit_code_is_reported(tmp_path: Path) -> None:
    result = LocalSandbox(tmp_path).run([sys.executable, "-c", "raise SystemExit(3)"], timeout_s=30, log_path="l.txt")
    assert result.exit_code == 3
    assert not result.timed_out


def test_unknown_backend_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown sandbox backend 'kubernetes'; available: local, docker"):
        make_sandbox("kubernetes", tmp_path, "madagents/hep:latest", DockerLimits())


def _no_daemon() -> None:
    msg = "no Docker daemon is reachable (refused); start one"
    raise RuntimeError(msg)


def test_auto_falls_back_to_local_without_a_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_package, "docker_client", _no_daemon)
    assert sandbox_package.resolve_backend("auto") == "local"
    assert sandbox_package.resolve_backend("local") == "local"


def test_asking_for_docker_without_a_daemon_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_package, "docker_client", _no_daemon)
    with pytest.raises(sandbox_package.SandboxUnavailableError, match="no Docker daemon is reachable"):
        sandbox_package.resolve_backend("docker")


BUSY = "import time\nwhile time.process_time() < {seconds}: pass"
"""Python that burns ``seconds`` of its own CPU time, however loaded the machine is."""


def test_cpu_time_of_a_busy_loop_and_of_a_sleep(tmp_path: Path) -> None:
    sandbox = LocalSandbox(tmp_path)
    busy = sandbox.run([sys.executable, "-c", BUSY.format(seconds=1.0)], timeout_s=60, log_path="b")
    asleep = sandbox.run([sys.executable, "-c", "import time; time.sleep(1)"], timeout_s=60, log_path="s")
    assert busy.cpu_seconds is not None
    assert 1.0 <= busy.cpu_seconds <= busy.seconds + 0.05  # rusage ticks are coarser than the monotonic clock
    assert asleep.cpu_seconds is not None
    assert asleep.seconds >= 1.0
    assert asleep.cpu_seconds < 0.5  # the interpreter's start, not the second asleep


def test_cpu_time_includes_a_child_the_tool_waited_for(tmp_path: Path) -> None:
    code = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BUSY.format(seconds=1.0)!r}], check=True)"
    result = LocalSandbox(tmp_path).run([sys.executable, "-c", code], timeout_s=60, log_path="c")
    assert result.exit_code == 0
    assert result.cpu_seconds is not None
    assert result.cpu_seconds >= 1.0


PROBE = """
import json, os, sys, time
try:
    import planted  # in the working directory, which is not on sys.path
except ImportError:
    planted = None
print(json.dumps({
    "warm": "madagents_tools.warm_start" in sys.orig_argv,
    "cwd": os.getcwd(),
    "argv": sys.argv[1:],
    "secret": "OPENAI_API_KEY" in os.environ,
    "planted": planted is not None,
}), flush=True)
time.sleep({"sleep": 60, "pause": 0.5}.get(" ".join(sys.argv[1:]), 0))
raise SystemExit(3)
"""


@pytest.fixture
def warm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSandbox]:
    """A warm-starting sandbox whose tool ``probe_tool`` reports where and how it runs, after one long tool ran."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "probe_tool.py").write_text(PROBE)
    monkeypatch.setenv("PYTHONPATH", str(modules))
    monkeypatch.setattr(local, "SPARE_AFTER_S", 0.0)
    (tmp_path / "run/steps").mkdir(parents=True)
    (tmp_path / "run/steps/planted.py").write_text("raise SystemExit('the working directory was on sys.path')")
    monkeypatch.chdir(tmp_path)
    sandbox = LocalSandbox(Path("run"), warm_start=True)  # relative, as `madagents.run(out="run")` gives it
    first = sandbox.run([sys.executable, "-m", "probe_tool", "pause"], timeout_s=30, log_path="first.txt", cwd="steps")
    assert json.loads(first.output_tail.splitlines()[0])["warm"] is False
    yield sandbox
    sandbox.close()


def _probe(result: ExecResult) -> dict[str, object]:
    return dict(json.loads(result.output_tail.splitlines()[0]))


def test_the_next_tool_runs_in_an_interpreter_started_beside_the_previous(
    warm: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")  # not a variable tools see: the spare still fits
    result = warm.run([sys.executable, "-m", "probe_tool", "a", "b"], timeout_s=30, log_path="second.txt", cwd="steps")
    assert result.exit_code == 3
    assert _probe(result) == {
        "warm": True,
        "cwd": str((warm.workdir / "steps").absolute()),
        "argv": ["a", "b"],
        "secret": False,
        "planted": False,
    }
    assert "warm" in (warm.workdir / "second.txt").read_text()


def test_a_changed_environment_starts_the_tool_cold(warm: LocalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LHAPDF_DATA_PATH", "/elsewhere")  # a variable tools may see, set after the spare started
    result = warm.run([sys.executable, "-m", "probe_tool"], timeout_s=30, log_path="second.txt")
    assert _probe(result)["warm"] is False


def test_a_warm_tool_is_killed_at_its_timeout_and_closing_ends_the_spare(warm: LocalSandbox) -> None:
    result = warm.run([sys.executable, "-m", "probe_tool", "sleep"], timeout_s=2.0, log_path="second.txt")
    assert result.timed_out
    assert _probe(result)["warm"] is True
    spare = warm._spare  # the one started beside the killed tool
    assert spare is not None
    warm.close()
    assert spare.process.poll() is not None


@pytest.mark.parametrize(
    ("entries", "loaded"),
    [
        ("PRELOAD", "['uproot', 'mplhep', 'matplotlib.mathtext', 'vector']"),
        ("EVENT_STACK", "['uproot']"),  # a run's first tool: events, not plots
    ],
)
def test_the_preload_imports_the_stack_and_leaves_no_output_for_the_tool(entries: str, loaded: str) -> None:
    code = (
        f"import logging, sys; from madagents_tools import warm_start; warm_start.preload(warm_start.{entries}); "
        "print([name for name in ('uproot', 'mplhep', 'matplotlib.mathtext', 'vector') if name in sys.modules], "
        "logging.root.manager.disable, 'sympy' in sys.modules); import sympy; "
        "from madagents_tools import TOOL_MODULES; print([m for m in TOOL_MODULES.values() if m in sys.modules])"
    )
    # stdin open and empty, as the sandbox keeps it until the tool's command: the preload runs to its end
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        out, err = process.stdout.read(), process.stderr.read()
    # logging is on again for the tool; vector came without its sympy backend, and sympy still imports; no tool's
    # module was imported, which `python -m` would run as a second copy after a RuntimeWarning in the tool's log
    assert out == f"{loaded} 0 False\n[]\n"
    assert err == ""


def test_an_early_spare_waits_past_the_environment_check_for_the_first_tool_with_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "probe_tool.py").write_text(PROBE)
    monkeypatch.setenv("PYTHONPATH", str(modules))
    monkeypatch.setattr(local, "SPARE_AFTER_S", 60.0)  # no spare but the early one
    monkeypatch.setattr(local, "_early_spare", None)  # not one an earlier command line left, in another environment
    local.start_spare_early()  # as `madagents run` does before it imports the agent graph
    early = local._early_spare
    assert early is not None
    assert early.process.args[-1] == local.FIRST_TOOL  # it preloads the event stack only
    sandbox = LocalSandbox(tmp_path, warm_start=True)
    assert LocalSandbox(tmp_path, warm_start=True)._spare is None  # one early spare, for the first sandbox
    check = sandbox.run([sys.executable, "-m", "madagents_tools.environment"], timeout_s=30, log_path="env.txt")
    assert check.exit_code == 2  # its usage: no request given; what matters is that it ran cold
    assert sandbox._spare is early
    result = sandbox.run([sys.executable, "-m", "probe_tool", "x"], timeout_s=30, log_path="tool.txt")
    sandbox.close()
    assert _probe(result)["warm"] is True
    assert _probe(result)["argv"] == ["x"]


def test_an_unclaimed_early_spare_ends_with_its_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "_early_spare", None)
    local.start_spare_early()
    spare = local._claim_early_spare()
    assert spare is not None
    with spare.process as process:
        assert process.stdin is not None
        process.stdin.close()  # what the host's exit does to the pipe
        assert process.wait(timeout=60) == 0


STEPS_TOOL = """
import sys, time
from madagents_tools.contract import report_progress
for done, total, pause in zip(*[iter(map(float, sys.argv[1:]))] * 3):
    if total:
        report_progress(int(done), int(total))
    time.sleep(pause)
"""
"""``python -m steps_tool DONE TOTAL PAUSE ...``: reports DONE of TOTAL (none when TOTAL is 0), sleeps PAUSE s, ..."""


@pytest.fixture
def spares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LocalSandbox, list[float]]:
    """A warm-starting sandbox and the monotonic times at which it started spares."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "steps_tool.py").write_text(STEPS_TOOL)
    monkeypatch.setenv("PYTHONPATH", str(modules))
    monkeypatch.setattr(local, "SPARE_AFTER_S", 0.3)
    started: list[float] = []

    class RecordedSpare(local._Spare):
        def __init__(self, *args: Any) -> None:
            started.append(time.monotonic())
            super().__init__(*args)

    monkeypatch.setattr(local, "_Spare", RecordedSpare)
    return LocalSandbox(tmp_path, warm_start=True), started


def _beside(sandbox: LocalSandbox, seconds: float) -> tuple[threading.Thread, list[float]]:
    """Another command (not a tool: the early reproduction's reproduce.sh) running ``seconds``; its end time."""
    ended: list[float] = []

    def other() -> None:
        sandbox.run([sys.executable, "-c", f"import time; time.sleep({seconds})"], timeout_s=60, log_path="other")
        ended.append(time.monotonic())

    thread = threading.Thread(target=other)
    thread.start()
    return thread, ended


def test_a_spare_starts_once_the_tool_runs_alone(spares: tuple[LocalSandbox, list[float]]) -> None:
    sandbox, started = spares
    before = time.monotonic()
    other, _ = _beside(sandbox, 1.5)
    tool = sandbox.run([sys.executable, "-m", "steps_tool", "0", "0", "3.5"], timeout_s=60, log_path="tool")
    other.join()
    sandbox.close()
    assert tool.exit_code == 0
    assert len(started) == 1
    assert started[0] >= before + 1.5  # not at SPARE_AFTER_S, while the other command still ran


def test_a_tool_that_never_runs_alone_leaves_no_spare(spares: tuple[LocalSandbox, list[float]]) -> None:
    sandbox, started = spares
    other, _ = _beside(sandbox, 3.0)
    sandbox.run([sys.executable, "-m", "steps_tool", "0", "0", "1.0"], timeout_s=60, log_path="tool")
    other.join()
    sandbox.close()
    assert started == []  # when the other command ended, the tool that earned it had gone


def test_a_spare_starts_beside_others_once_the_tool_is_half_done(spares: tuple[LocalSandbox, list[float]]) -> None:
    sandbox, started = spares
    other, other_ended = _beside(sandbox, 4.0)
    steps = ["1", "4", "1.0", "2", "4", "1.5"]  # a quarter at once, half after 1 s (past SPARE_AFTER_S), 1.5 s more
    before = time.monotonic()
    sandbox.run([sys.executable, "-m", "steps_tool", *steps], timeout_s=60, log_path="tool")
    other.join()
    sandbox.close()
    assert len(started) == 1
    assert before + 1.0 <= started[0] < other_ended[0]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('@@madagents-progress {"done": 3, "total": 8}', (3, 8)),
        ("an ordinary log line", None),
        ("@@madagents-progress not json", None),
        ('@@madagents-progress {"done": 3}', None),
        ("@@madagents-progress [3, 8]", None),
    ],
)
def test_progress_lines_are_read_and_garbled_ones_ignored(line: str, expected: tuple[int, int] | None) -> None:
    # a tool's output is untrusted: the host's progress display and the spare's half-done rule read it alike
    assert read_progress(line) == expected
