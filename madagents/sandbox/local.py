"""Local backend: tools run as subprocesses of the host Python, for development and machines without Docker.

This is not an isolation boundary: tools run as the host user and may write anywhere it may. It only scrubs the
environment so secrets of the host do not reach tools, and keeps the working directory off ``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from madagents.sandbox.base import ExecResult, OutputHandler, OutputLog, Sandbox

__all__ = ["ENV_ALLOWLIST", "LocalSandbox"]

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


class LocalSandbox(Sandbox):
    name = "local"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.python = sys.executable

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
        env = {key: os.environ[key] for key in ENV_ALLOWLIST if key in os.environ}
        # PYTHONSAFEPATH: `python -m madagents_tools.X` must not import a madagents_tools/ package planted in the run
        # directory
        env |= {"PYTHONUNBUFFERED": "1", "PYTHONSAFEPATH": "1"}
        start = time.monotonic()
        with (
            OutputLog(self.workdir / log_path, on_line) as output,
            subprocess.Popen(
                cmd,
                cwd=self.workdir / cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # its own process group, so a timeout kills its children too
            ) as process,
        ):
            expired = threading.Event()
            timer = threading.Timer(timeout_s, _kill_group, args=(process, expired))
            timer.start()
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    output.line(line.rstrip("\n"))
                # wait4, not wait: this child's CPU time, with the descendants it reaped (threads of a server run
                # several tools at once, so the process-wide RUSAGE_CHILDREN would mix them)
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = exit_code = os.waitstatus_to_exitcode(status)
            finally:
                timer.cancel()
        return ExecResult(
            exit_code=exit_code,
            timed_out=expired.is_set(),
            seconds=time.monotonic() - start,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            output_tail=output.tail(),
        )

    def ensure_ready(self, *, build: bool, on_line: OutputHandler) -> str:  # noqa: ARG002 - nothing to build
        return f"local Python {self.python}"

    def describe(self) -> str:
        return f"local subprocesses of {self.python}"


def _kill_group(process: subprocess.Popen[str], expired: threading.Event) -> None:
    expired.set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
