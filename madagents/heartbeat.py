"""Progress as plain lines for logs without a terminal (CI, batch jobs): events done, rate, time left."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["HEARTBEAT_S", "Heartbeat"]

HEARTBEAT_S = 30.0
"""Seconds between two lines of one task: a CI log shows life twice a minute without drowning in lines."""


@dataclass
class _Task:
    started: float
    done_at_start: int
    last_line: float


@dataclass
class Heartbeat:
    """Turns progress updates into a line every ``interval_s`` seconds per task, and one when a task completes."""

    interval_s: float = HEARTBEAT_S
    clock: Callable[[], float] = time.monotonic
    _tasks: dict[str, _Task] = field(default_factory=dict)

    def beat(self, task: str, done: int, total: int) -> str | None:
        now = self.clock()
        state = self._tasks.setdefault(task, _Task(started=now, done_at_start=done, last_line=now))
        finished = total > 0 and done >= total
        if not finished and now - state.last_line < self.interval_s:
            return None
        state.last_line = now
        elapsed = now - state.started
        rate = (done - state.done_at_start) / elapsed if elapsed > 0 else 0.0
        line = f"  {task}: {done}/{total} events, {rate:.1f}/s"
        if finished:
            self._tasks.pop(task)
            return f"{line}, done in {elapsed:.0f} s"
        left = f"{(total - done) / rate:.0f} s" if rate > 0 else "unknown"
        return f"{line}, about {left} left"

    def reset(self) -> None:
        self._tasks.clear()
