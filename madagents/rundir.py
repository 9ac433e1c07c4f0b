"""The run directory: every artifact of a run, written atomically, plus status, trace and provenance."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, Field

from madagents.errors import UserInputError
from madagents.llm.redact import redact
from madagents.runlock import LOCK_FILE
from madagents.safe_files import append_line, read_text
from madagents.sandbox.host import ToolHost
from madagents.state import Assumption
from madagents_tools.contract import FileKind, FileRecord, atomic_path, sha256_file

__all__ = ["Provenance", "RunDir", "RunInfo", "RunStatus", "ToolTime", "TraceEvent", "tool_time"]

ModelT = TypeVar("ModelT", bound=BaseModel)
RunState = Literal["running", "succeeded", "failed"]

BOOKKEEPING = {"status.json", "trace.jsonl", "provenance.json", "checkpoints.sqlite", "run.json"}
"""Files that change while the run goes on, so they are not hashed into the provenance."""
CONTROL_END, DELETE = 0x20, 0x7F
"""Control characters are below 0x20, and 0x7f; none belongs in a directory name that reaches scripts and logs."""


class RunStatus(BaseModel):
    state: RunState
    error: str | None = None
    updated: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class RunInfo(BaseModel):
    """What ``--resume`` needs to pick a run up again."""

    run_id: str = Field(description="The run's identity (checkpoint thread); a moved or copied directory keeps it.")
    workflow: str
    sandbox: str = Field(description="The backend the run started on; information only, never used to resume.")
    command_line: list[str]
    started: str


class TraceEvent(BaseModel):
    """One line of trace.jsonl."""

    time: float = Field(default_factory=time.time)
    event: Literal["node_start", "node_end", "tool_call", "check", "model_turn", "agent_tool", "plan_fixed"]
    node: str | None = None
    model: str | None = None
    tokens: int | None = None
    retries: int | None = Field(default=None, description="Failed attempts of a model call before it succeeded.")
    content: str | None = Field(default=None, description="Model text or tool arguments and answer, redacted.")
    step_dir: str | None = None
    tool: str | None = None
    seconds: float | None = None
    waited_s: float | None = None
    """A node's wait for the user's answer (chat), not counted in its ``seconds``."""
    cpu_seconds: float | None = None
    """A tool call's CPU time as its sandbox measured it, a lower bound (``ExecResult.cpu_seconds``)."""
    ok: bool | None = None
    error: str | None = None


class Provenance(BaseModel):
    """Enough to tell exactly what produced the results (provenance.json)."""

    run_id: str
    madagents_version: str
    command_line: list[str]
    sandbox: str
    platform: str = Field(default_factory=platform.platform)
    packages: dict[str, str]
    generator_settings: dict[str, list[str]] = Field(description="Pythia8 settings of each Pythia8 step, by step id.")
    detector: str = Field(description="Which detector simulation ran (backend and card), or 'none (particle level)'.")
    run_seed: int
    derived_seeds: dict[str, int]
    artifacts: list[FileRecord]
    tool_host: ToolHost | None = Field(
        default=None, description="What ran the tools; reproduce.sh runs them there again and is rendered from it."
    )


class RunDir:
    """A run directory; every write goes through a temporary file and a rename."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._run_id: str | None = None

    @property
    def run_id(self) -> str:
        """The identity stored in run.json, not the directory's name: runs are moved and copied off scratch disks.

        Before run.json is written (a new run), the directory's name.
        """
        if self._run_id is None:
            if not (self.path / "run.json").is_file():
                return Path(os.path.abspath(self.path)).name  # not resolve(): a symlinked --out keeps its name
            self._run_id = self.info().run_id
        return self._run_id

    def info(self) -> RunInfo:
        try:
            return self.read_model("run.json", RunInfo)
        except ValueError as exc:  # pydantic's ValidationError, or text that is not UTF-8
            msg = f"{self.path}/run.json is damaged ({str(exc).splitlines()[0]}); this run cannot be continued"
            raise UserInputError(msg) from None

    @classmethod
    def create(cls, path: Path) -> RunDir:
        """Create a fresh run directory, or explain why it cannot be written."""
        if any(ord(char) < CONTROL_END or ord(char) == DELETE for char in str(path)):
            msg = f"the run directory name {str(path)!r} contains control characters (a newline?); choose a plain --out"
            raise UserInputError(msg)
        if path.exists() and not path.is_dir():
            msg = f"--out {path} is an existing file, not a directory; choose a new --out"
            raise UserInputError(msg)
        if path.exists() and any(entry.name != LOCK_FILE for entry in path.iterdir()):
            msg = f"output directory {path} already exists and is not empty; choose a new --out, or --resume it"
            raise UserInputError(msg)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            msg = (
                f"cannot write the run directory {path}: {exc.strerror or exc}; "
                "choose a writable location with --out DIR"
            )
            raise UserInputError(msg) from None
        return cls(path)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """An existing run directory, for --resume."""
        if not (path / "run.json").is_file():
            msg = f"{path} is not a madagents run directory (no run.json); give the one `madagents run` printed"
            raise UserInputError(msg)
        return cls(path)

    def file(self, relative: str) -> Path:
        return self.path / relative

    def write_text(self, relative: str, text: str) -> Path:
        with atomic_path(self.path / relative) as tmp:
            tmp.write_text(text)
        return self.path / relative

    def write_model(self, relative: str, model: BaseModel) -> Path:
        return self.write_text(relative, model.model_dump_json(indent=2) + "\n")

    def read_model(self, relative: str, model: type[ModelT]) -> ModelT:
        return model.model_validate_json((self.path / relative).read_text())

    def write_assumptions(self, assumptions: list[Assumption]) -> Path:
        entries = [assumption.model_dump(mode="json") for assumption in assumptions]
        return self.write_text("assumptions.yaml", yaml.safe_dump(entries, sort_keys=False, allow_unicode=True))

    def set_status(self, state: RunState, error: str | None = None) -> None:
        """Write status.json; on a full disk, rewrite the old file in place, since that needs no new block."""
        status = RunStatus(state=state, error=error)
        try:
            self.write_model("status.json", status)
        except OSError:
            if not (self.path / "status.json").is_file():
                raise
            self._rewrite_in_place("status.json", status.model_dump_json(indent=2) + "\n")

    def _rewrite_in_place(self, relative: str, text: str) -> None:
        # truncating first hands the file's blocks back, so a short text fits where it was even when the disk is full
        fd = os.open(self.path / relative, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    def status(self) -> RunStatus:
        return self.read_model("status.json", RunStatus)

    def trace(self, event: TraceEvent) -> None:
        # Appending one short line is atomic enough for a log; the trace is bookkeeping, not a result.
        append_line(self.path / "trace.jsonl", redact(event.model_dump_json(exclude_none=True)))

    def artifacts(self) -> list[FileRecord]:
        """Every result file with its hash, bookkeeping and scratch files excluded.

        Only regular files count: a symbolic link or a device a tool left behind is never followed (it could point at
        /dev/zero), so it is missing from the provenance and ``validate`` reports it.
        """
        records = []
        for path in sorted(self.path.rglob("*")):
            relative = path.relative_to(self.path)
            if not stat.S_ISREG(path.lstat().st_mode) or path.name.startswith(".") or relative.parts[0] == "verify":
                continue
            if relative.as_posix() in BOOKKEEPING or relative.name.startswith("checkpoints.sqlite"):
                continue
            records.append(FileRecord(path=relative.as_posix(), sha256=sha256_file(path), kind=_kind(path)))
        return records

    def trace_events(self) -> list[TraceEvent]:
        lines = (self.path / "trace.jsonl").read_text().splitlines()
        return [TraceEvent.model_validate(json.loads(line)) for line in lines if line.strip()]


class ToolTime(BaseModel):
    """What the sandboxed tools of some runs cost, summed over their tool calls."""

    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    """At least this much: calls the sandbox could not measure count as none (``ExecResult.cpu_seconds``)."""


def tool_time(root: Path) -> ToolTime:
    """The wall-clock and CPU seconds of the tool calls of every run under ``root/runs`` (a chat session's)."""
    total = ToolTime()
    for trace in sorted(root.glob("runs/*/trace.jsonl")):
        with contextlib.suppress(OSError, ValueError):  # a run being written, or a planted link (UnsafePathError)
            for line in read_text(root, trace.relative_to(root).as_posix()).splitlines():
                event = TraceEvent.model_validate_json(line)
                if event.event == "tool_call":
                    total.wall_seconds += event.seconds or 0.0
                    total.cpu_seconds += event.cpu_seconds or 0.0
    return total


_KINDS: dict[str, FileKind] = {
    ".root": "root",
    ".hepmc3": "hepmc3",
    ".png": "png",
    ".json": "json",
    ".sh": "script",
    ".txt": "log",
}


def _kind(path: Path) -> FileKind:
    if path.suffix == ".json" and path.parent.name == "hists":
        return "hist-json"
    if path.name.endswith(".values.npy") and path.parent.name == "hists":
        return "hist-values"
    return _KINDS.get(path.suffix, "text")
