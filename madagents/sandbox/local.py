"""Local backend: tools run as subprocesses of the host Python, for development and machines without Docker.

This is not an isolation boundary: tools run as the host user and may write anywhere it may. It only scrubs the
environment so secrets of the host do not reach tools, and keeps the working directory off ``sys.path``.

With ``warm_start``, a tool runs in an interpreter started while the previous tool ran (madagents_tools.warm_start),
which has imported the physics stack by then: a run's fixed costs shrink by the tools' start-up (measured: the
analysis step 1.5 s → 0.7 s). It is the same process a cold start would give: its own session, the scrubbed
environment, the working directory set before the tool runs, and its CPU time counted from the hand-over.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from madagents.sandbox.base import ExecResult, OutputHandler, OutputLog, Sandbox
from madagents_tools.contract import read_progress
from madagents_tools.warm_start import FIRST_TOOL

__all__ = ["ENV_ALLOWLIST", "LocalSandbox", "start_spare_early", "tool_environment"]

ENV_ALLOWLIST = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "MG5_PATH",
    "DELPHES_PATH",
    "MADAGENTS_MODELS_DIR",
    "LHAPDF_DATA_PATH",
)
"""Host variables a tool may see (where MG5, Delphes and LHAPDF sets are installed); everything else (API keys,
tokens) is dropped."""


WARM_START_MODULE = "madagents_tools.warm_start"
SPARE_AFTER_S = 1.0
"""A tool that runs this long earns the next tool's interpreter, started beside it (its preload takes ~1.3 s of CPU)
once the tool is the only command running, or at the latest once it reports half its work done. Beside a tool and
another command (the early reproduction check beside the generator) a preload takes its CPU from the tool."""


COLD_TOOLS = ("madagents_tools.environment",)
"""Tools that import nothing of the physics stack: they start cold (0.2 s), and leave the waiting interpreter to the
next tool, whose imports it saves (the generator's: 0.3 s)."""


def tool_environment() -> dict[str, str]:
    """What a tool sees of the host's environment."""
    env = {key: os.environ[key] for key in ENV_ALLOWLIST if key in os.environ}
    # PYTHONSAFEPATH: `python -m madagents_tools.X` must not import a madagents_tools/ package planted in the run
    # directory
    return env | {"PYTHONUNBUFFERED": "1", "PYTHONSAFEPATH": "1"}


_early_spare: _Spare | None = None


def start_spare_early() -> None:
    """Start the first tool's interpreter now, for the first warm ``LocalSandbox`` of this process to take.

    A command line calls this before it imports the agent graph (1 s on one core, the other idle), so that the first
    tool that does real work (the generator) starts warm. Unclaimed, the interpreter exits with the host, at the end
    of its stdin.
    """
    global _early_spare  # noqa: PLW0603 - one per process, as the command line that starts it
    if _early_spare is None:
        with contextlib.suppress(OSError):  # no process to spare: the first tool starts cold
            _early_spare = _Spare(sys.executable, tool_environment(), Path.cwd(), first_tool=True)


def _claim_early_spare() -> _Spare | None:
    global _early_spare
    spare, _early_spare = _early_spare, None
    return spare


class LocalSandbox(Sandbox):
    name = "local"

    def __init__(self, workdir: Path, *, warm_start: bool = False) -> None:
        super().__init__(workdir)
        self.python = sys.executable
        self.warm_start = warm_start
        self._spare: _Spare | None = _claim_early_spare() if warm_start else None
        self._spare_lock = threading.Lock()  # a server's threads run several tools at once
        self._running = 0
        """Commands running now, tools or not: a spare waits for a core no other command uses."""
        self._spare_due: dict[str, str] | None = None
        """The environment of the spare a running tool has earned but not yet been given."""

    def run(
        self,
        cmd: list[str],
        *,
        timeout_s: float,
        log_path: str,
        cwd: str = ".",
        on_line: OutputHandler | None = None,
        writable: Sequence[str] = (),  # noqa: ARG002 - this backend isolates nothing (module docstring)
        protected: Sequence[str] = (),  # noqa: ARG002
    ) -> ExecResult:
        env = tool_environment()
        # tools (python -m madagents_tools.<stage>.<name> ...) start warm; other commands (reproduce.sh) as they are
        warm = self.warm_start and cmd[:2] == [self.python, "-m"] and bool(cmd[2:]) and cmd[2] not in COLD_TOOLS
        spare = self._take_spare(env) if warm else None
        start = time.monotonic()
        with (
            OutputLog(self.workdir / log_path, on_line) as output,
            self._start(cmd, self.workdir / cwd, env, spare) as process,
        ):
            expired = threading.Event()
            timer = threading.Timer(timeout_s, _kill_group, args=(process, expired))
            timer.start()
            # the next tool's interpreter warms up on the core this one leaves idle, once this one has shown it is
            # long enough to hide that (short tools, and most runs' last, then start no interpreter for nothing) and
            # no other command needs that core (SPARE_AFTER_S)
            warmer = threading.Timer(SPARE_AFTER_S, self._earn_spare, args=(env,))
            with self._spare_lock:
                self._running += 1
            half_reported = False
            try:
                if warm:
                    warmer.start()
                assert process.stdout is not None
                for line in process.stdout:
                    output.line(line.rstrip("\n"))
                    if warm and not half_reported and warmer.finished.is_set() and _half_done(line):
                        half_reported = True
                        self._earn_spare(env, beside_others=True)
                # wait4, not wait: this child's CPU time, with the descendants it reaped (threads of a server run
                # several tools at once, so the process-wide RUSAGE_CHILDREN would mix them)
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = exit_code = os.waitstatus_to_exitcode(status)
            finally:
                timer.cancel()
                warmer.cancel()
                if warm:  # it may be starting the spare just now: let it finish, so that close() finds the spare
                    warmer.join()
                self._ended(earned=warm)
        preload_seconds = spare.preload_cpu_seconds if spare is not None else 0.0
        return ExecResult(
            exit_code=exit_code,
            timed_out=expired.is_set(),
            seconds=time.monotonic() - start,
            cpu_seconds=max(usage.ru_utime + usage.ru_stime - preload_seconds, 0.0),
            output_tail=output.tail(),
        )

    def close(self) -> None:
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()

    @staticmethod
    def _start(cmd: list[str], cwd: Path, env: dict[str, str], spare: _Spare | None) -> subprocess.Popen[str]:
        if spare is not None:
            return spare.hand_over(cmd[2:], cwd)
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so a timeout kills its children too
        )

    def _take_spare(self, env: dict[str, str]) -> _Spare | None:
        """The waiting interpreter, if it was started with this environment and is alive; else a cold start."""
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is not None and (spare.env != env or spare.process.poll() is not None):
            spare.discard()
            return None
        return spare

    def _earn_spare(self, env: dict[str, str], *, beside_others: bool = False) -> None:
        with self._spare_lock:
            self._spare_due = env
            self._start_earned_spare(beside_others=beside_others)

    def _ended(self, *, earned: bool) -> None:
        with self._spare_lock:
            self._running -= 1
            if earned:  # a warm tool that ended took its claim with it
                self._spare_due = None
            self._start_earned_spare()

    def _start_earned_spare(self, *, beside_others: bool = False) -> None:
        """Start the spare a running tool earned, when it runs alone (the caller holds the lock)."""
        if self._spare_due is None or self._spare is not None or (self._running != 1 and not beside_others):
            return
        env, self._spare_due = self._spare_due, None
        with contextlib.suppress(OSError):  # no process to spare (a limit): the next tool starts cold
            self._spare = _Spare(self.python, env, self.workdir)

    def ensure_ready(self, *, build: bool, on_line: OutputHandler) -> str:  # noqa: ARG002 - nothing to build
        return f"local Python {self.python}"

    def describe(self) -> str:
        return f"local subprocesses of {self.python}"


class _Spare:
    """A ``python -m madagents_tools.warm_start`` waiting for its tool's command on stdin."""

    def __init__(self, python: str, env: dict[str, str], cwd: Path, *, first_tool: bool = False) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [python, "-m", WARM_START_MODULE, *([FIRST_TOOL] if first_tool else [])],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.preload_cpu_seconds = 0.0
        """CPU time the interpreter spent before its tool, not charged to the tool."""

    def hand_over(self, argv: list[str], cwd: Path) -> subprocess.Popen[str]:
        """Give the interpreter its tool: ``argv`` is what follows ``python -m``; ``cwd`` where it runs."""
        assert self.process.stdin is not None
        self.preload_cpu_seconds = _cpu_seconds(self.process.pid)
        with contextlib.suppress(BrokenPipeError):  # it died: its exit code and output say how, as a tool's would
            # absolute: the interpreter already runs in the run directory, and a relative one is the host's
            self.process.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd.absolute())}) + "\n")
            self.process.stdin.close()
        return self.process

    def discard(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.communicate()


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a running process so far (Linux /proc; 0 where unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # after the command name: state is field 3 of proc(5), utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _half_done(line: str) -> bool:
    progress = read_progress(line)
    return progress is not None and 2 * progress[0] >= progress[1]


def _kill_group(process: subprocess.Popen[str], expired: threading.Event) -> None:
    expired.set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
