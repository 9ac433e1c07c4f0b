"""One process at a time per run directory: an exclusive ``flock`` on a lock file inside it.

Two processes driving the same run would run every tool twice and the loser would overwrite ``status.json``.
The lock file names its holder, so the second process can say who has the run. The kernel drops the lock when
the holder dies (even ``kill -9``), so there is never a stale lock to clean up.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from madagents.errors import UserInputError

__all__ = ["LOCK_FILE", "holder", "holding"]

LOCK_FILE = ".madagents.lock"
"""Hidden, so it is neither an artifact nor hashed into the provenance."""
HOLDER_BYTES = 4096
"""A holder record is a pid, a host, a time and a command line; anything longer is not one."""


@contextlib.contextmanager
def holding(run_dir: Path, command_line: list[str]) -> Iterator[None]:
    """Hold the run directory's lock for the block; raise :class:`UserInputError` naming the holder if taken."""
    fd = _open_lock_file(run_dir)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = (
                f"run directory {run_dir} is in use by {_describe_holder(fd)}; wait for it to finish or stop that "
                "process, then try again"
            )
            raise UserInputError(msg) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command_line": command_line,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode()[:HOLDER_BYTES], 0)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the flock


def _open_lock_file(run_dir: Path) -> int:
    # O_NOFOLLOW: a symlink planted in the run directory must not make the host open (or create) a file elsewhere
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(run_dir / LOCK_FILE, flags, 0o644)
    except OSError as exc:
        msg = f"cannot lock the run directory {run_dir} ({LOCK_FILE}: {exc.strerror or exc}); remove that entry"
        raise UserInputError(msg) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        msg = f"{run_dir / LOCK_FILE} is not a regular file; remove it"
        raise UserInputError(msg)
    return fd


def _describe_holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, HOLDER_BYTES, 0))
        command = " ".join(str(part) for part in holder["command_line"])
        return f"process {int(holder['pid'])} on {holder['host']} ({command}) since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not written its name yet)"


def holder(run_dir: Path) -> str | None:
    """Who holds the run directory's lock (a process driving it), or None when nothing drives it now."""
    fd = _open_lock_file(run_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _describe_holder(fd)
    else:
        return None
    finally:
        os.close(fd)
