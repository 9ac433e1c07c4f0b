"""The JSON contract shared by the host and every sandbox tool.

A tool reads a request model from a JSON file and writes a result model to another JSON file. Paths inside
requests and results are relative to the tool's working directory (the run directory), so the same request
runs unchanged under every sandbox backend.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import posixpath
import sys
import threading
import traceback
import typing
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, NoReturn, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "NOT_INSTALLED",
    "PROGRESS_PREFIX",
    "FileKind",
    "FileRecord",
    "OutputDir",
    "OutputFile",
    "RunPath",
    "StrictModel",
    "ToolRequest",
    "ToolResult",
    "atomic_path",
    "exit_without_teardown",
    "inside_run_dir",
    "package_versions",
    "read_progress",
    "record_file",
    "report_progress",
    "sha256_file",
    "tool_main",
]

NOT_INSTALLED = "not installed"
"""The version :func:`package_versions` reports for a package that is absent."""

PROGRESS_PREFIX = "@@madagents-progress "
"""Lines on stderr starting with this carry JSON progress (``{"done": n, "total": N}``) for the host."""

FileKind = Literal[
    "hepmc3", "root", "hist-json", "hist-values", "png", "json", "log", "script", "text", "lhe", "banner", "card"
]


def inside_run_dir(path: str) -> str:
    """Reject paths that leave the run directory: a request (perhaps written by a model) names files in it only."""
    posix = PurePosixPath(path.replace("\\", "/"))
    if not path or posix.is_absolute() or ".." in posix.parts or path.startswith("~"):
        msg = f"path {path!r} must be relative to the run directory, without '..' (e.g. events/events.root)"
        raise ValueError(msg)
    return path


RunPath = Annotated[str, AfterValidator(inside_run_dir)]
"""A path relative to the run directory that cannot point outside it."""


class Writes(str):
    """Marks a request field as an output: the sandbox lets the tool write there, and nowhere else."""

    __slots__ = ()


OutputFile = Annotated[str, AfterValidator(inside_run_dir), Writes("file")]
"""A file the tool writes (relative to the run directory); its directory is writable for the tool."""
OutputDir = Annotated[str, AfterValidator(inside_run_dir), Writes("dir")]
"""A directory the tool writes into (relative to the run directory)."""


class StrictModel(BaseModel):
    """Strict input model: a misspelt key is an error rather than a silently ignored default."""

    model_config = ConfigDict(extra="forbid")


class ToolRequest(StrictModel):
    """Base of every tool request."""

    tool: str = Field(description="Module name under tools/; each request narrows it to a Literal.")

    def written_dirs(self) -> list[str]:
        """The directories this request lets the tool write to (those of its ``OutputFile``/``OutputDir`` fields)."""
        dirs = set()
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            kind = _writes(info.annotation, info.metadata)
            if kind is not None and isinstance(value, str):
                dirs.add(posixpath.normpath(value if kind == "dir" else posixpath.dirname(value) or "."))
        return sorted(dirs)


def _writes(annotation: Any, metadata: list[Any]) -> str | None:
    """``file`` or ``dir`` for an output field (also inside ``X | None``), else None."""
    for marker in metadata:
        if isinstance(marker, Writes):
            return str(marker)
    for inner in typing.get_args(annotation):
        if typing.get_origin(inner) is Annotated:
            found = _writes(None, list(inner.__metadata__))
            if found is not None:
                return found
    return None


class FileRecord(BaseModel):
    """One file a tool wrote."""

    path: RunPath = Field(description="Path relative to the tool's working directory.")
    sha256: str = Field(description="Hex SHA-256 of the file content.")
    kind: FileKind
    n_events: int | None = Field(default=None, description="Number of events, for event files.")


class ToolResult(BaseModel):
    """Fields every tool result carries; tools subclass it and give their own fields defaults."""

    ok: bool
    error: str | None = None
    files: list[FileRecord] = Field(default_factory=list)
    versions: dict[str, str] = Field(default_factory=dict, description="Package name -> version used.")
    seed: int | None = None
    warnings: list[str] = Field(default_factory=list)
    log_tail: str = Field(default="", description="Last lines of the tool's output (filled in by the host).")
    log_path: str | None = Field(default=None, description="Full log, kept in the run directory (host).")


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_file(path: str | os.PathLike[str], kind: FileKind, n_events: int | None = None) -> FileRecord:
    return FileRecord(path=os.fspath(path), sha256=sha256_file(path), kind=kind, n_events=n_events)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block finishes.

    A reader (or a resumed run) therefore sees either the previous complete file or the new complete file,
    never a half-written one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would survive the rename; the writer creates the file with the umask's mode.
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def report_progress(done: int, total: int) -> None:
    print(PROGRESS_PREFIX + json.dumps({"done": done, "total": total}), file=sys.stderr, flush=True)


def read_progress(line: str) -> tuple[int, int] | None:
    """(done, total) of a line ``report_progress`` printed; None for any other line, or a garbled one."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    with suppress(ValueError, TypeError, KeyError):
        progress = json.loads(line.removeprefix(PROGRESS_PREFIX))
        return int(progress["done"]), int(progress["total"])
    return None


def package_versions(*names: str) -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = NOT_INSTALLED
    return versions


RequestT = TypeVar("RequestT", bound=ToolRequest)
ResultT = TypeVar("ResultT", bound=ToolResult)


def exit_without_teardown(code: object = 0) -> NoReturn:
    """End the process as ``raise SystemExit(code)`` would, but without Python's teardown.

    The teardown frees every imported module one object at a time, after the work is done and the files are closed:
    0.07 s for the generator or its writer process, 0.3 s for the analysis (matplotlib), 0.35 s for the host, each
    on a run's critical path. The exit handlers still run and the streams are flushed; a process that still runs a
    thread of its own (not a daemon) exits as usual, so that the thread finishes.
    """
    if isinstance(code, str):  # what SystemExit("message") prints
        print(code, file=sys.stderr)
        code = 1
    if any(not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        raise SystemExit(code)
    atexit._run_exitfuncs()  # what a normal exit runs, and os._exit skips
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0)


def tool_main(run: Callable[[RequestT], ResultT], request_type: type[RequestT], result_type: type[ResultT]) -> int:
    """Command-line entry of a tool: ``python -m madagents_tools.<stage>.<name> REQUEST.json RESULT.json``.

    Whatever happens, a result file is written: a request that does not validate or a tool that raises gives
    ``ok=False`` with the reason, so the host never has to parse a traceback.
    """
    if len(sys.argv) != 3:  # noqa: PLR2004 - program name + two paths
        print(f"usage: python -m {run.__module__} REQUEST.json RESULT.json", file=sys.stderr)
        return 2
    request_path, result_path = sys.argv[1], sys.argv[2]
    try:
        request = request_type.model_validate_json(Path(request_path).read_text())
        result = run(request)
    except ValidationError as exc:
        result = result_type(ok=False, error=f"invalid request {request_path}: {exc}")
    except Exception as exc:  # the tool boundary turns every failure into a result
        traceback.print_exc()
        result = result_type(ok=False, error=f"{type(exc).__name__}: {exc}")
    with atomic_path(result_path) as tmp:
        tmp.write_text(result.model_dump_json(indent=2))
    return 0 if result.ok else 1
