"""The reviewer's reproduction check, started early: reproduce.sh runs on a spare core while the run generates.

Why this proves what the check proved when the reviewer ran it: reproduce.sh reads nothing of the run but the
requests rendered into it (from plan.json) and the installed tools; it never reads the run's events. Run before,
during or after the generation, it writes the same bytes. The reviewer still compares afterwards, exactly as
before, and takes the early result only if reproduce.sh is byte for byte the script that ran and the command
(``EVENTS=N``) is the same; a model that amended a request rewrote the script, and then it runs again.

Only bounded checks start early (at most ``verify_events`` events, the prefix or a small run): one Pythia8 process
on the core the generator leaves free costs the run no wall time. The check of a chunked run stays after the
generation, where it does not take the cores (or Dask workers) the chunks need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from madagents.sandbox.base import ExecResult

__all__ = ["EarlyReproduction", "script_digest"]


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

    def start(self, command: list[str], script_sha256: str, run: Callable[[], ExecResult]) -> None:
        """Start it, unless one is waiting for the reviewer already (each of a plan's generation steps asks)."""
        if self._job is not None:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="early-reproduction")
        self._job = _Job(command, script_sha256, self._executor.submit(run))

    def take(self, command: list[str], script_sha256: str) -> ExecResult | None:
        """The early run's result (waiting for it) if it ran ``command`` on this script; else None."""
        job, self._job = self._job, None
        if job is None:
            return None
        if (job.command, job.script_sha256) != (command, script_sha256):
            job.future.exception()  # let it finish first: the new run writes the same directory
            return None
        return job.future.result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
