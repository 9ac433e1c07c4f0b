"""What every node gets besides the state: settings, the run directory, the sandbox, and a progress reporter.

Passed to the graph as LangGraph runtime context, so it is never checkpointed: a resumed run gets fresh ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from madagents.early_reproduction import EarlyReproduction
from madagents.llm.client import ModelClient
from madagents.rundir import RunDir
from madagents.sandbox import Sandbox
from madagents.settings import Settings

__all__ = ["AgentContext", "Confirm", "NullReporter", "Reporter", "RunContext"]


class Reporter(Protocol):
    """Shows the user what the run is doing."""

    def node_started(self, node: str) -> None: ...

    def node_finished(self, node: str, seconds: float, error: str | None) -> None: ...

    def progress(self, task: str, done: int, total: int) -> None: ...

    def note(self, text: str) -> None: ...


class NullReporter:
    """Shows nothing (tests, library use)."""

    def node_started(self, node: str) -> None:
        pass

    def node_finished(self, node: str, seconds: float, error: str | None) -> None:
        pass

    def progress(self, task: str, done: int, total: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass


Confirm = Callable[[str], bool]
"""Asks the user a yes/no question (chat); absent in autonomous runs, which never ask."""


@dataclass(slots=True)
class RunContext:
    settings: Settings
    rundir: RunDir
    sandbox: Sandbox
    command_line: list[str]
    reporter: Reporter = field(default_factory=NullReporter)
    models: ModelClient | None = None
    """The model behind the roles; None runs every role deterministically (workflows)."""
    confirm: Confirm | None = None
    early_reproduction: EarlyReproduction = field(default_factory=EarlyReproduction)
    """The reviewer's reproduce.sh when it was started beside the generation (``madagents.early_reproduction``)."""
    _waits: threading.local = field(default_factory=threading.local, init=False, repr=False)
    """Per thread (parallel nodes run in threads and may each ask): seconds spent waiting for the user's answers."""

    def ask(self, question: str) -> bool | None:
        """The user's answer to a yes/no question; None when nobody can be asked (autonomous runs).

        The wait is counted apart (:meth:`waited_s`): it is the person's time, not the run's, and neither a node's
        time nor the wall-time budget may grow while a student thinks or has left the question open.
        """
        if self.confirm is None:
            return None
        start = time.monotonic()
        try:
            return self.confirm(question)
        finally:
            self._waits.seconds = self.waited_s() + time.monotonic() - start

    def waited_s(self) -> float:
        """Seconds this thread has waited for answers to :meth:`ask` so far."""
        seconds: float = getattr(self._waits, "seconds", 0.0)
        return seconds


class AgentContext(Protocol):
    """What a model-driven loop needs: a run's context, or a chat session's (whose directory holds the trace)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def rundir(self) -> RunDir: ...

    @property
    def reporter(self) -> Reporter: ...

    @property
    def models(self) -> ModelClient | None: ...
