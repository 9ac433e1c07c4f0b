"""The Python entry point for notebooks and scripts: ``madagents.run(workflow)`` → a :class:`RunResult`.

The same run as ``madagents run``: the deterministic graph, the sandbox the settings choose, the physics gates.
Bad input raises :class:`UserInputError` (never ``SystemExit``), a failed run :class:`RunFailedError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import ValidationError

from madagents.agents.estimate import check_event_budget
from madagents.context import NullReporter, Reporter
from madagents.errors import RunFailedError, UserInputError
from madagents.input_errors import describe_errors
from madagents.results import RunResult
from madagents.runner import Driver, default_run_dir, start_run
from madagents.settings import Settings, environment_settings
from madagents.workflow import AnyWorkflow, SurrogateWorkflow, Workflow, load_any_workflow

__all__ = ["Backend", "prepare", "run"]

Backend = Literal["auto", "local", "docker", "dask"]


def run(
    workflow: str | Path | AnyWorkflow,
    *,
    out: str | Path | None = None,
    events: int | None = None,
    seed: int | None = None,
    sandbox: Backend | None = None,
    progress: bool = True,
) -> RunResult:
    """Run a workflow and return what it produced.

    Args:
        workflow: a workflow YAML file, or a :class:`Workflow` already loaded.
        out: the run directory (default: ``runs/<name>-<timestamp>`` under ``MADAGENTS_RUNS_DIR``).
        events: override the workflow's number of events.
        seed: override the workflow's run seed.
        sandbox: where tools run (default: ``MADAGENTS_SANDBOX``, else docker when a daemon answers).
        progress: show each role and a progress bar (in Jupyter too: rich renders there, live with ipywidgets).

    Returns:
        The :class:`RunResult`: σ, ``hist.Hist`` objects, the paths of plots, report and reproduce.sh.

    Raises:
        UserInputError: the workflow, an option or a ``MADAGENTS_*`` variable is wrong; nothing ran.
        RunFailedError: a tool, a budget or a physics gate stopped the run; its status.json says why.
    """
    spec, run_dir, settings = prepare(workflow, out=out, events=events, seed=seed, sandbox=sandbox)
    reporter = _reporter() if progress else NullReporter()
    command_line = ["madagents.run", str(workflow if isinstance(workflow, str | Path) else spec.name)]
    try:
        start_run(spec, run_dir, settings, command_line, Driver(reporter=reporter))
    except RunFailedError as exc:
        msg = f"the run in {run_dir} failed: {exc}"
        raise RunFailedError(msg) from None
    return RunResult.open(run_dir)


def prepare(
    workflow: str | Path | AnyWorkflow,
    *,
    out: str | Path | None = None,
    events: int | None = None,
    seed: int | None = None,
    sandbox: Backend | None = None,
    settings: Settings | None = None,
) -> tuple[AnyWorkflow, Path, Settings]:
    """The validated workflow, its run directory and the settings of a run; raises :class:`UserInputError`."""
    if sandbox is not None and sandbox not in get_args(Backend):
        msg = f"sandbox={sandbox!r} is not a backend; give one of {', '.join(get_args(Backend))}"
        raise UserInputError(msg)
    settings = settings or environment_settings()
    if sandbox is not None:
        settings = settings.model_copy(update={"sandbox": sandbox})
    given: object = workflow  # notebooks pass anything; the annotation is what should be passed
    if isinstance(given, str | Path):
        spec = load_any_workflow(Path(given), events=events, seed=seed)
    elif isinstance(given, Workflow | SurrogateWorkflow):
        spec = _overridden(given, events=events, seed=seed)
    else:
        msg = f"workflow must be a YAML path or a madagents.Workflow, not {type(given).__name__}"
        raise UserInputError(msg)
    if isinstance(spec, Workflow):
        check_event_budget(spec, settings.budget.wall_s)
    return spec, Path(out) if out is not None else default_run_dir(settings, spec.name), settings


def _overridden(workflow: AnyWorkflow, *, events: int | None, seed: int | None) -> AnyWorkflow:
    data = workflow.model_dump(mode="json")
    if events is not None and isinstance(workflow, Workflow):
        data["events"] = events
    if seed is not None:
        data["seed"] = seed
    try:
        return type(workflow).model_validate(data)
    except ValidationError as exc:
        raise UserInputError(describe_errors(Path(workflow.name), exc, type(workflow))) from None


def _reporter() -> Reporter:
    from rich.console import Console  # noqa: PLC0415 - only when progress is shown

    from madagents.console import RichReporter  # noqa: PLC0415 - loads the tools' result models

    return RichReporter(Console())
