"""Start or resume a run: the run directory, the checkpointed graph, and the final status."""

from __future__ import annotations

import contextlib
import sqlite3
import typing
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel

from madagents.context import NullReporter, Reporter, RunContext
from madagents.errors import RunFailedError, UserInputError
from madagents.graph import build_graph
from madagents.rundir import RunDir, RunInfo
from madagents.sandbox import SandboxUnavailableError, make_sandbox, resolve_backend
from madagents.settings import Settings
from madagents.state import RunState
from madagents.workflow import Workflow

__all__ = ["default_run_dir", "open_context", "resume_run", "start_run"]

CHECKPOINTS = "checkpoints.sqlite"


def default_run_dir(settings: Settings, workflow: Workflow) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return settings.runs_dir / f"{workflow.name}-{stamp}"


def start_run(
    workflow: Workflow,
    out: Path,
    settings: Settings,
    command_line: list[str],
    reporter: Reporter | None = None,
) -> RunState:
    """Run a workflow in a new run directory; raises ``RunFailedError`` if a role or gate fails."""
    settings = settings.model_copy(update={"sandbox": _usable_backend(settings.sandbox)})
    rundir = RunDir.create(out)
    info = RunInfo(
        run_id=rundir.run_id,
        workflow=workflow.name,
        sandbox=settings.sandbox,
        command_line=command_line,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    rundir.set_status("running")
    rundir.write_model("run.json", info)
    rundir.write_text("workflow.json", workflow.model_dump_json(indent=2))
    return _drive(rundir, RunState(workflow=workflow), settings, command_line, reporter)


def resume_run(
    run_dir: Path, settings: Settings, command_line: list[str], reporter: Reporter | None = None
) -> RunState:
    """Continue a killed run from its last checkpoint; finished roles are not redone."""
    rundir = RunDir.open(run_dir)
    if rundir.status().state == "succeeded":
        msg = f"run {run_dir} already succeeded; nothing to resume (its results are in {run_dir}/report.md)"
        raise UserInputError(msg)
    info = rundir.read_model("run.json", RunInfo)
    settings = settings.model_copy(update={"sandbox": _usable_backend(info.sandbox)})
    rundir.set_status("running")
    return _drive(rundir, None, settings, command_line, reporter)


def open_context(run_dir: Path, settings: Settings, command_line: list[str]) -> RunContext:
    """An existing run directory with a ready sandbox, for reviewing it again (``madagents validate``).

    The sandbox is the run's own backend unless ``settings.sandbox`` names one.
    """
    rundir = RunDir.open(run_dir)
    requested = settings.sandbox if settings.sandbox != "auto" else rundir.read_model("run.json", RunInfo).sandbox
    ctx = _context(rundir, settings.model_copy(update={"sandbox": _usable_backend(requested)}), command_line)
    try:
        ctx.sandbox.ensure_ready(build=False, on_line=lambda _: None)
    except SandboxUnavailableError as exc:
        raise UserInputError(str(exc)) from None
    return ctx


def _context(
    rundir: RunDir, settings: Settings, command_line: list[str], reporter: Reporter | None = None
) -> RunContext:
    return RunContext(
        settings=settings,
        rundir=rundir,
        sandbox=make_sandbox(settings.sandbox, rundir.path, settings.image, settings.docker),
        command_line=command_line,
        reporter=reporter or NullReporter(),
    )


def _usable_backend(requested: str) -> str:
    """The backend to run on, checked before anything is written."""
    try:
        return resolve_backend(requested)
    except SandboxUnavailableError as exc:
        raise UserInputError(str(exc)) from None


def _drive(
    rundir: RunDir,
    initial: RunState | None,
    settings: Settings,
    command_line: list[str],
    reporter: Reporter | None,
) -> RunState:
    context = _context(rundir, settings, command_line, reporter)
    config: Any = {"configurable": {"thread_id": rundir.run_id}, "recursion_limit": settings.recursion_limit}
    with contextlib.closing(sqlite3.connect(rundir.file(CHECKPOINTS), check_same_thread=False)) as connection:
        graph = build_graph(SqliteSaver(connection, serde=_serializer()))
        try:
            # durability="sync": a checkpoint is on disk before the next node starts, so a SIGKILL loses
            # at most the node that was running.
            for _ in graph.stream(initial, config, context=context, durability="sync"):
                pass
        except BaseException as exc:
            rundir.set_status("failed", f"interrupted: {type(exc).__name__}: {exc}")
            raise
        state = RunState.model_validate(graph.get_state(config).values)
    if state.error is not None or state.verdict is None or not state.verdict.signed_off:
        error = state.error or "the run ended before the reviewer signed it off"
        rundir.set_status("failed", error)
        raise RunFailedError(error)
    rundir.set_status("succeeded")
    return state


def _serializer() -> JsonPlusSerializer:
    """Checkpoint serializer that may rebuild exactly the pydantic models of RunState, nothing else."""
    return JsonPlusSerializer(allowed_msgpack_modules=sorted(_model_types(RunState)))


def _model_types(model: type[BaseModel], seen: set[tuple[str, str]] | None = None) -> set[tuple[str, str]]:
    """(module, name) of ``model`` and of every model and enum its fields hold, recursively."""
    seen = set() if seen is None else seen
    key = (model.__module__, model.__qualname__)
    if key in seen:
        return seen
    seen.add(key)
    for field in model.model_fields.values():
        for inner in _walk_annotation(field.annotation):
            if issubclass(inner, BaseModel):
                _model_types(inner, seen)
            else:
                seen.add((inner.__module__, inner.__qualname__))
    return seen


def _walk_annotation(annotation: Any) -> list[type[BaseModel] | type[Enum]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel | Enum):
        return [annotation]
    if isinstance(annotation, Enum):  # a member inside Literal[...]
        return [type(annotation)]
    return [found for arg in typing.get_args(annotation) for found in _walk_annotation(arg)]
