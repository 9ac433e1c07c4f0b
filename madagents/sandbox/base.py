"""The sandbox protocol: how the host runs a command next to a run directory, whatever the backend."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel

from madagents.safe_files import open_new_for_writing
from madagents.sandbox.host import ToolHost, tool_locations

__all__ = ["ExecResult", "OutputHandler", "OutputLog", "Sandbox", "SandboxUnavailableError"]

OutputHandler = Callable[[str], None]
"""Called with every line the command prints, as it prints it."""


TAIL_LINES = 50
"""Lines of output a result carries (for the user or a model); the log file has all of them."""


class OutputLog:
    """A command's output as it arrives: each line goes to the log file and to ``on_line``; the tail is kept."""

    def __init__(self, path: Path, on_line: OutputHandler | None) -> None:
        # a fresh file: a symbolic link planted where the log goes is removed, never written through
        self._stream = os.fdopen(open_new_for_writing(path), "w")
        self._on_line = on_line
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)

    def __enter__(self) -> OutputLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stream.close()

    def line(self, text: str) -> None:
        """Record one line, given without its newline."""
        self._stream.write(text + "\n")
        self._tail.append(text + "\n")
        if self._on_line is not None:
            self._on_line(text)

    def tail(self) -> str:
        return "".join(self._tail)


class SandboxUnavailableError(Exception):
    """The backend cannot run tools here; the message says how to fix it."""


class ExecResult(BaseModel):
    exit_code: int
    timed_out: bool
    seconds: float
    cpu_seconds: float | None = None
    """User plus system CPU seconds of the command, a lower bound; None where the backend could not measure it.

    Local and Dask (a worker runs it as the local backend does): the process's rusage from ``wait4``, which includes
    the descendants it waited for, not those it left running (the timeout kills those); a warm-started tool's
    without what its interpreter spent before the hand-over. Docker: the container's
    cgroup counter as last sampled (about once a second) before the container stopped."""
    oom_killed: bool = False
    """The command exceeded the sandbox's memory limit and was killed."""
    output_tail: str
    """Last lines of the combined output (the full output is in the log file)."""


class Sandbox(ABC):
    """Runs commands with the run directory as working directory.

    Paths given to :meth:`run` are relative to the run directory, so requests and scripts written for one
    backend run unchanged on another. An isolating backend lets the command write only into the ``writable``
    directories and keeps the ``protected`` files (and the log) read-only; everything else in the run directory
    belongs to the host (containers/README.md, "The boundary").
    """

    isolated: bool = False
    """Whether commands are kept from the host (and from the host-owned files of the run directory)."""

    name: str
    """Backend name recorded in provenance."""
    python: str
    """Python interpreter inside the sandbox that runs ``python -m madagents_tools.<stage>.<name>``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    @abstractmethod
    def run(
        self,
        cmd: list[str],
        *,
        timeout_s: float,
        log_path: str,
        cwd: str = ".",
        on_line: OutputHandler | None = None,
        writable: Sequence[str] = (),
        protected: Sequence[str] = (),
    ) -> ExecResult:
        """Run ``cmd`` in ``workdir/cwd``; write its combined output to ``workdir/log_path``.

        ``writable``: directories (relative to ``workdir``) the command may write into; ``protected``: files inside
        them it may only read.
        """

    @abstractmethod
    def ensure_ready(self, *, build: bool, on_line: OutputHandler) -> str:
        """Make sure tools can run, building what is missing when ``build``; returns what was found or done.

        Raises ``SandboxUnavailableError`` with the fix when the backend cannot be made ready.
        """

    @abstractmethod
    def describe(self) -> str:
        """What exactly runs the tools (for provenance)."""

    def tool_host(self) -> ToolHost:
        """What runs the tools, for reproduce.sh to run them there again; call after :meth:`ensure_ready`."""
        return ToolHost(backend=self.name, python=self.python, environment=tool_locations())

    def use_image(self, kind: str, image: str) -> None:  # noqa: B027 - only the docker backend has images
        """Run later calls in ``image``, the image of ``kind`` (hep, hep-full, ml) that holds what the plan needs."""

    def close(self) -> None:  # noqa: B027 - a hook with nothing to do for most backends, not an abstract method
        """Release what the backend started (a cluster, clients); a no-op unless the backend holds something."""
