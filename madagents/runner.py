"""Start or resume a run: the run directory, the checkpointed graph, and the final status."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from madagents import runlock
from madagents.agents.estimate import check_event_budget
from madagents.agents.installer import plan_image
from madagents.context import Confirm, NullReporter, Reporter, RunContext
from madagents.errors import RunFailedError, UserInputError
from madagents.graph import NODES, build_graph
from madagents.llm.budget import Spend
from madagents.llm.client import ModelClient
from madagents.reanalysis_spec import AnyRun, Reanalysis
from madagents.rundir import RunDir, RunInfo
from madagents.safe_files import read_model
from madagents.sandbox import Sandbox, SandboxUnavailableError, make_sandbox, resolve_backend
from madagents.settings import Settings
from madagents.state import Plan, RunState, Task
from madagents.workflow import SurrogateWorkflow, Workflow

__all__ = [
    "Driver",
    "checkpoint_serializer",
    "default_run_dir",
    "open_context",
    "resume_run",
    "rewind_run",
    "start_run",
]

CHECKPOINTS = "checkpoints.sqlite"
TASK_RUN = "task"
"""The ``workflow`` name in run.json of a run planned by a model from a task."""
REWIND = "rewind.txt"
"""Checkpoint id the next --resume starts from, written by ``madagents rewind``."""


def default_run_dir(settings: Settings, name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return settings.runs_dir / f"{name}-{stamp}"


@dataclass(frozen=True, slots=True)
class Driver:
    """Who drives the roles besides the code: the model, the user's yes/no answers, and the progress display."""

    reporter: Reporter = field(default_factory=NullReporter)
    models: ModelClient | None = None
    confirm: Confirm | None = None


def start_run(
    request: AnyRun | Task, out: Path, settings: Settings, command_line: list[str], driver: Driver | None = None
) -> RunState:
    """Run a workflow (no model) or a task (model-driven) in a new run directory.

    Raises ``RunFailedError`` if a role, a gate, a budget or the host (a full disk) stops the run.
    """
    driver = driver or Driver()
    if isinstance(request, Task) and driver.models is None:
        msg = "a task needs a model to plan it; the runner got none"
        raise UserInputError(msg)
    if isinstance(request, Workflow):
        check_event_budget(request, settings.budget.wall_s)
    settings = settings.model_copy(update={"sandbox": _usable_backend(settings.sandbox)})
    rundir = RunDir.create(out)
    info = RunInfo(
        run_id=rundir.run_id,
        workflow=request.name if isinstance(request, Workflow | SurrogateWorkflow | Reanalysis) else TASK_RUN,
        sandbox=settings.sandbox,
        command_line=command_line,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    with runlock.holding(rundir.path, command_line), _failed_on_error(rundir):
        rundir.set_status("running")
        rundir.write_model("run.json", info)
        if isinstance(request, Workflow | SurrogateWorkflow | Reanalysis):
            rundir.write_text("workflow.json", request.model_dump_json(indent=2))
            initial = RunState(workflow=request)
        else:
            rundir.write_text("task.md", request.text)
            initial = RunState(task=request)
        return _drive(rundir, initial, settings, command_line, driver)


def resume_run(
    run_dir: Path,
    settings: Settings,
    command_line: list[str],
    driver: Driver | None = None,
    make_models: Callable[[], ModelClient] | None = None,
) -> RunState:
    """Continue a killed or stopped run from its last checkpoint; finished roles are not redone.

    The backend comes from ``settings``, never from the run directory: a tool that rewrote run.json must not
    choose where the next tools run. A task run needs its model again: ``make_models`` builds it (only then, so a
    workflow run needs no API key).
    """
    rundir = RunDir.open(run_dir)
    with runlock.holding(rundir.path, command_line):
        if rundir.status().state == "succeeded":
            msg = f"run {run_dir} already succeeded; nothing to resume (its results are in {run_dir}/report.md)"
            raise UserInputError(msg)
        info = rundir.info()
        settings = settings.model_copy(update={"sandbox": _usable_backend(settings.sandbox)})
        driver = driver or Driver()
        if info.workflow == TASK_RUN and driver.models is None and make_models is not None:
            driver = dataclasses.replace(driver, models=make_models())
        with _failed_on_error(rundir):
            rundir.set_status("running")
            return _drive(rundir, None, settings, command_line, driver)


def rewind_run(run_dir: Path, node: str, command_line: list[str] | None = None) -> str:
    """Make ``run_dir`` resume from the checkpoint taken just before ``node`` last ran; returns that checkpoint's id.

    The later checkpoints stay in the database (LangGraph forks from the chosen one), so a rewind can be undone.
    """
    rundir = RunDir.open(run_dir)
    with runlock.holding(rundir.path, command_line or ["rewind", str(run_dir), node]):
        config: Any = {"configurable": {"thread_id": rundir.run_id}}
        with contextlib.closing(sqlite3.connect(rundir.file(CHECKPOINTS), check_same_thread=False)) as connection:
            graph = build_graph(SqliteSaver(connection, serde=checkpoint_serializer()))
            history = list(graph.get_state_history(config))
        index = _index_before(history, node)
        if index is None:
            msg = f"run {run_dir} has no checkpoint before {node!r}; nodes are {', '.join(NODES)}"
            raise UserInputError(msg)
        checkpoint_id = str(history[index].config["configurable"]["checkpoint_id"])
        rundir.write_text(REWIND, checkpoint_id)
        rundir.set_status("failed", f"rewound to before {node}; continue with --resume")
        return checkpoint_id


@contextlib.contextmanager
def _failed_on_error(rundir: RunDir) -> Iterator[None]:
    """Whatever stops the run on the host side leaves status.json ``failed`` with the reason.

    A full disk or a broken checkpoint database is the machine's trouble, not a bug: it reaches the user as a
    :class:`RunFailedError` (one paragraph, exit 1). Anything else keeps its traceback.
    """
    try:
        yield
    except RunFailedError:
        raise  # the status already says why
    except (OSError, sqlite3.Error) as exc:
        reason = f"the host failed: {type(exc).__name__}: {exc}"
        _mark_failed(rundir, reason)
        msg = f"{reason}; fix that (free disk space?), then continue with `madagents run --resume {rundir.path}`"
        raise RunFailedError(msg) from exc
    except BaseException as exc:
        what = "stopped by" if isinstance(exc, Exception) else "interrupted:"  # Ctrl-C and exits are no errors
        _mark_failed(rundir, f"{what} {type(exc).__name__}: {exc}")
        raise


def _mark_failed(rundir: RunDir, reason: str) -> None:
    # the original error is what the user must see, even when status.json cannot be written at all
    with contextlib.suppress(OSError):
        rundir.set_status("failed", reason)


def _retry_failed_node(graph: Any, config: Any) -> Any:
    """A run that ended on a failed node (a budget, a tool) resumes from just before that node, without its error.

    What the failed attempt spent stays spent: it is added to the state resumed from, so budgets and the report
    count it.
    """
    latest = graph.get_state(config)
    if latest.next or not latest.values or latest.values.get("error") is None:
        return config
    history = list(graph.get_state_history(config))
    index = _index_before(history, None)
    if index is None:
        return config
    before = history[index]
    lost = Spend.model_validate(latest.values["spend"]).since(Spend.model_validate(before.values["spend"]))
    if not (lost.turns or lost.tool_rounds or lost.seconds):
        return before.config
    # recorded as the output of the node that led to ``before``, so the graph routes on to the failed node again
    writer = history[index + 1].next[0]
    return graph.update_state(before.config, {"spend": lost}, as_node=writer)


def _index_before(history: list[Any], node: str | None) -> int | None:
    """Position in ``history`` (newest first) of the latest error-free checkpoint from which ``node`` (any node, if
    None) was about to run.

    Error-free: after a failure in one of several parallel steps, the dispatcher still runs once with the error
    set; resuming from there would only end the run again.
    """
    for index, snapshot in enumerate(history):
        if snapshot.next and (node is None or node in snapshot.next) and snapshot.values.get("error") is None:
            return index
    return None


def open_context(
    run_dir: Path, settings: Settings, command_line: list[str], *, reproduce: bool, on_host: bool = False
) -> RunContext:
    """An existing run directory with a ready sandbox, for reviewing it again (``madagents validate``).

    The backend is ``settings.sandbox`` (``auto``: docker when a daemon answers), never what the run directory
    says: a received directory is data, and its run.json may have been rewritten. Re-executing its reproduce.sh
    outside a container needs ``on_host``, which the user types knowingly.
    """
    rundir = RunDir.open(run_dir)
    ctx = _context(rundir, settings.model_copy(update={"sandbox": _usable_backend(settings.sandbox)}), command_line)
    if reproduce and not ctx.sandbox.isolated and not on_host:
        msg = (
            f"validate would re-execute {run_dir}/reproduce.sh on this host (the {ctx.settings.sandbox} backend is "
            "not a sandbox): a bash script that runs `python -m madagents_tools.<stage>.<tool>` for each step in it, "
            "as your user, with your files. A run directory from elsewhere may hold anything. Start a Docker daemon so "
            "that it runs in a container, skip it with --no-reproduce, or accept running it here with --run-on-host"
        )
        raise UserInputError(msg)
    try:
        if reproduce:  # the gates alone read files; only re-executing reproduce.sh needs the sandbox
            ctx.sandbox.ensure_ready(build=False, on_line=lambda _: None)
    except SandboxUnavailableError as exc:
        raise UserInputError(str(exc)) from None
    return ctx


def _context(rundir: RunDir, settings: Settings, command_line: list[str], driver: Driver | None = None) -> RunContext:
    driver = driver or Driver()
    sandbox = make_sandbox(
        settings.sandbox,
        rundir.path,
        settings.image,
        settings.docker,
        settings.dask.scheduler,
        settings.dask.workers,
        settings.models_dir,
    )
    _plan_image(rundir, settings, sandbox)
    return RunContext(
        settings=settings,
        rundir=rundir,
        sandbox=sandbox,
        command_line=command_line,
        reporter=driver.reporter,
        models=driver.models,
        confirm=driver.confirm,
    )


def _plan_image(rundir: RunDir, settings: Settings, sandbox: Sandbox) -> None:
    """A planned run (resumed, or validated) runs in the image its plan needs; a new one gets it from the installer.

    plan.json may come from elsewhere (validate): it only chooses among the images the settings name.
    """
    if not rundir.file("plan.json").is_file():
        return
    try:
        plan = read_model(rundir.path, "plan.json", Plan)
        sandbox.use_image(*plan_image(plan, settings))
    except (OSError, ValueError):
        return  # an unreadable plan fails later, where it is read for what it says


def _usable_backend(requested: str) -> str:
    """The backend to run on, checked before anything is written."""
    try:
        return resolve_backend(requested)
    except SandboxUnavailableError as exc:
        raise UserInputError(str(exc)) from None


def _drive(
    rundir: RunDir, initial: RunState | None, settings: Settings, command_line: list[str], driver: Driver
) -> RunState:
    context = _context(rundir, settings, command_line, driver)
    config: Any = {"configurable": {"thread_id": rundir.run_id}, "recursion_limit": settings.recursion_limit}
    rewind = rundir.file(REWIND)
    if initial is None and rewind.is_file():
        config["configurable"]["checkpoint_id"] = rewind.read_text().strip()
        rewind.unlink()
    with (
        contextlib.closing(context.sandbox),
        contextlib.closing(context.early_reproduction),  # waited for before the sandbox closes
        contextlib.closing(sqlite3.connect(rundir.file(CHECKPOINTS), check_same_thread=False)) as connection,
    ):
        graph = build_graph(SqliteSaver(connection, serde=checkpoint_serializer()))
        if initial is None and "checkpoint_id" not in config["configurable"]:
            config = _retry_failed_node(graph, config)
        if initial is None:
            _check_checkpoint(graph, config, rundir)
        # durability="sync": a checkpoint is on disk before the next node starts, so a SIGKILL loses
        # at most the node that was running.
        for _ in graph.stream(initial, config, context=context, durability="sync"):
            pass
        latest: Any = {"configurable": {"thread_id": rundir.run_id}}  # the newest checkpoint, not the resumed one
        state = RunState.model_validate(graph.get_state(latest).values)
    if state.error is not None or state.verdict is None or not state.verdict.signed_off:
        error = state.error or "the run ended before the reviewer signed it off"
        rundir.set_status("failed", error)
        raise RunFailedError(error)
    rundir.set_status("succeeded")
    return state


def _check_checkpoint(graph: Any, config: Any, rundir: RunDir) -> None:
    """The state a resume starts from must validate: LangGraph rebuilds a model that does not with
    ``model_construct``, unchecked, and the nodes would render its values into reproduce.sh and tool requests."""
    values = graph.get_state(config).values
    try:
        RunState.model_validate(to_jsonable_python(values))
    except (ValidationError, PydanticSerializationError) as exc:
        first = str(exc).splitlines()[:3]
        msg = (
            f"the checkpoint of run {rundir.path} does not hold a valid run state ({' '.join(first)}); "
            "checkpoints.sqlite was changed outside madagents: start the run again in a new directory"
        )
        raise UserInputError(msg) from None


def checkpoint_serializer(state_type: type[BaseModel] = RunState) -> JsonPlusSerializer:
    """Checkpoint serializer that may rebuild exactly the pydantic models of ``state_type``, nothing else."""
    return JsonPlusSerializer(allowed_msgpack_modules=sorted(_model_types(state_type)))


def _model_types(model: type[BaseModel], seen: set[tuple[str, str]] | None = None) -> set[tuple[str, str]]:
    """(module, name) of ``model`` and of every model and enum its fields hold, recursively."""
    seen = set() if seen is None else seen
    key = (model.__module__, model.__qualname__)
    if key in seen:
        return seen
    seen.add(key)
    for info in model.model_fields.values():
        for inner in _walk_annotation(info.annotation):
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
