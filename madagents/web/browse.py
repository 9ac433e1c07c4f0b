"""What the page may read from disk: the chat sessions under the runs directory, and a run's report, plots and files.

Names come from the page, so each is checked before it reaches a path: a session is a directory directly under the
runs directory, a run is a directory directly under a session's ``runs/``, and a file is reached through
:func:`madagents.safe_files.resolve_inside` (relative, no ``..``, no symbolic link on the way, a regular file).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from madagents.chat import CHAT_SESSION
from madagents.errors import UserInputError
from madagents.rundir import RunDir
from madagents.safe_files import UnsafePathError, read_text, resolve_inside
from madagents.web.render import to_html

__all__ = ["list_files", "list_sessions", "run_details", "session_dir", "session_file"]

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
MAX_FILES = 2000
MAX_REPORT_BYTES = 4 << 20


class NotFoundError(Exception):
    """The page asked for a session, run or file that is not there (or not allowed): answered with 404."""


def session_dir(runs_dir: Path, session_id: str) -> Path:
    """The chat session ``session_id`` under ``runs_dir``; NotFoundError for anything else."""
    path = runs_dir / session_id
    if not NAME.fullmatch(session_id) or path.is_symlink() or not _is_chat_session(path):
        msg = f"no chat session {session_id!r}"
        raise NotFoundError(msg)
    return path


def _is_chat_session(path: Path) -> bool:
    if not (path / "run.json").is_file():
        return False
    try:
        return RunDir(path).info().workflow == CHAT_SESSION
    except (OSError, UserInputError):
        return False


def list_sessions(runs_dir: Path) -> list[dict[str, Any]]:
    """The chat sessions under ``runs_dir``, newest first."""
    sessions = []
    for path in runs_dir.iterdir() if runs_dir.is_dir() else []:
        if NAME.fullmatch(path.name) and not path.is_symlink() and _is_chat_session(path):
            info = RunDir(path).info()
            runs = path / "runs"
            count = sum(1 for run in runs.iterdir() if run.is_dir()) if runs.is_dir() else 0
            sessions.append({"id": path.name, "started": info.started, "runs": count})
    return sorted(sessions, key=lambda session: session["started"], reverse=True)


def run_details(session: Path, run_name: str) -> dict[str, Any]:
    """A run of a session: state, report.md as HTML, plots, and every file (for the run browser)."""
    parts = run_name.split("/")
    if len(parts) != 2 or parts[0] != "runs" or not NAME.fullmatch(parts[1]):  # noqa: PLR2004 - "runs/NAME"
        msg = f"no run {run_name!r}"
        raise NotFoundError(msg)
    run = session / run_name
    if run.is_symlink() or not (run / "run.json").is_file():
        msg = f"no run {run_name!r} in this session"
        raise NotFoundError(msg)
    status = RunDir(run).status()
    files = list_files(session, run_name)
    report = None
    if "report.md" in {entry["path"].removeprefix(run_name + "/") for entry in files}:
        report = to_html(read_text(session, f"{run_name}/report.md", MAX_REPORT_BYTES))
    # the run's own plots; verify/ holds the reviewer's reproduction of the same histograms
    plots = [
        entry["path"]
        for entry in files
        if entry["path"].startswith(f"{run_name}/hists/") and entry["path"].endswith(".png")
    ]
    return {
        "name": run_name,
        "state": status.state,
        "error": status.error,
        "report": report,
        "plots": plots,
        "files": files,
    }


def list_files(session: Path, relative: str) -> list[dict[str, Any]]:
    """Regular files under ``session/relative``, without following links or entering hidden directories."""
    found: list[dict[str, Any]] = []
    for top, dirs, names in os.walk(session / relative, followlinks=False):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        for name in sorted(names):
            path = Path(top) / name
            mode = os.lstat(path)
            if name.startswith(".") or not stat.S_ISREG(mode.st_mode):
                continue
            found.append({"path": path.relative_to(session).as_posix(), "bytes": mode.st_size})
            if len(found) >= MAX_FILES:
                return found
    return found


def session_file(session: Path, relative: str) -> Path:
    """A file of the session for download; NotFoundError for a path outside it, a link, or a hidden file."""
    if any(part.startswith(".") for part in relative.split("/")):
        msg = f"no file {relative!r}"
        raise NotFoundError(msg)
    try:
        return resolve_inside(session, relative)
    except UnsafePathError as exc:
        raise NotFoundError(str(exc)) from None
