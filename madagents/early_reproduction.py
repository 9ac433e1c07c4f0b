"""The reviewer's reproduction check, started early: reproduce.sh runs on a spare core while the run generates.

Why this proves what the check proved when the reviewer ran it: reproduce.sh reads nothing of the run but the
requests rendered into it (from plan.json) and the installed tools; it never reads the run's events. Run before,
during or after the generation, it writes the same bytes. The reviewer still compares afterwards, exactly as
before, and takes the early result only if reproduce.sh is byte for byte the script that ran and the command
(``EVENTS=N``) is the same; a model that amended a request rewrote the script, and then it runs again.

Only bounded checks start early (at most ``verify_events`` events, the prefix or a small run): one Pythia8 process
on the core the generator leaves free costs the run no wall time. The check of a chunked run stays after the
generation, where it does not take the cores (or Dask workers) the chunks need.

A check of a prefix waits until the generator reports a tenth of its work done (``RELEASE_AT``; or ``START_AFTER_S``
beside a tool that reports no progress): while the generator initialises Pythia8 and its writer process imports its
libraries, a check starting its own interpreter and Pythia8 beside them makes four processes share two cores.
Measured in /proc/PID/schedstat over 6 000 Drell–Yan events, the generator waited for a core 0.88 s with the check
started at once, 1.0 s with it started at the generator's first progress report (100 events), 0.45 s at its 600th.
It waits less when the generation is not much longer than the check, and a full reproduction starts at once: it
then ends with the generation (300 events: 0.8 s earlier than one started at the first progress report).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from madagents.sandbox.base import ExecResult

__all__ = ["RELEASE_AT", "START_AFTER_S", "EarlyReproduction", "script_digest"]

RELEASE_AT = 0.1
"""The check of a prefix starts once the tool beside it has reported this fraction of its work done."""
START_AFTER_S = 3.0
"""Beside a tool that has reported no progress this long after ``start``, the check starts then."""


def script_digest(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


@dataclass(slots=True)
class _Job:
    command: list[str]
    script_sha256: str
    future: Future[ExecResult]


class EarlyReproduction:
    """At most one reproduce.sh started ahead of the reviewer; ``close`` waits for it (no orphan outlives the run)."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._job: _Job | None = None
        self._reporting, self._released = threading.Event(), threading.Event()
        self._closing = False
        self._release_at = RELEASE_AT

    def start(self, command: list[str], script_sha256: str, run: Callable[[], ExecResult], *, unchecked: float) -> None:
        """Start it once released, unless one is waiting for the reviewer already (each generation step asks).

        ``unchecked``: the fraction of the generation's events the check does not regenerate (0 for a full one).
        """
        if self._job is not None:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="early-reproduction")
        self._release_at = min(RELEASE_AT, unchecked)
        self._reporting.clear()
        self._released.clear()
        if self._release_at <= 0:
            self.release()
        self._job = _Job(command, script_sha256, self._executor.submit(self._once_released, run))

    def progress(self, done: int, total: int) -> None:
        """The tool beside which the check runs has done ``done`` of ``total``."""
        self._reporting.set()
        if done >= self._release_at * total:
            self._released.set()

    def release(self) -> None:
        """Start the check now (the reviewer needs it, or the run ends)."""
        self._reporting.set()
        self._released.set()

    def _once_released(self, run: Callable[[], ExecResult]) -> ExecResult:
        if self._reporting.wait(START_AFTER_S):
            self._released.wait()
        if self._closing:  # the run ended (a failed generation) before the check began: nobody will take it
            return ExecResult(exit_code=-1, timed_out=False, seconds=0.0, output_tail="not run: the run had ended")
        return run()

    def take(self, command: list[str], script_sha256: str) -> ExecResult | None:
        """The early run's result (waiting for it) if it ran ``command`` on this script; else None."""
        self.release()
        job, self._job = self._job, None
        if job is None:
            return None
        if (job.command, job.script_sha256) != (command, script_sha256):
            job.future.exception()  # let it finish first: the new run writes the same directory
            return None
        return job.future.result()

    def close(self) -> None:
        self._closing = True
        self.release()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
