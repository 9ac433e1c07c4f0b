"""The ``madagents`` command."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from madagents.errors import RunFailedError, UserInputError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="An agentic collider-simulation assistant.")
console = Console()
errors = Console(stderr=True)


@app.callback()
def main() -> None:
    """An agentic collider-simulation assistant."""


@app.command()
def run(
    workflow: Annotated[Path, typer.Argument(help="Workflow YAML, or with --resume a run directory.")],
    events: Annotated[int | None, typer.Option(help="Override the workflow's number of events.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the workflow's run seed.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory (default: runs/<name>-<timestamp>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the killed run in WORKFLOW (a run dir).")] = False,
) -> None:
    """Run a workflow through the agent graph (no LLM) and write a validated run directory."""
    from madagents import runner  # noqa: PLC0415 - keeps --help fast
    from madagents.console import RichReporter, summary_table  # noqa: PLC0415
    from madagents.settings import Settings  # noqa: PLC0415
    from madagents.workflow import load_workflow  # noqa: PLC0415

    start, settings, reporter = time.monotonic(), Settings(), RichReporter(console)
    try:
        if resume:
            _refuse_overrides(events=events, seed=seed, out=out)
            run_dir = _find_run(workflow, settings.runs_dir)
            state = runner.resume_run(run_dir, settings, sys.argv, reporter)
        else:
            spec = load_workflow(workflow, events=events, seed=seed)
            run_dir = out or runner.default_run_dir(settings, spec)
            state = runner.start_run(spec, run_dir, settings, sys.argv, reporter)
    except (UserInputError, RunFailedError) as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    console.print(summary_table(state, run_dir, time.monotonic() - start))


def _find_run(given: Path, runs_dir: Path) -> Path:
    """A run directory given as a path or as a run id under the runs directory."""
    return given if given.is_dir() or given.is_absolute() else runs_dir / given


def _refuse_overrides(**options: object) -> None:
    given = [name for name, value in options.items() if value is not None]
    if given:
        msg = f"--resume continues a run exactly as it was started; drop --{', --'.join(given)}"
        raise UserInputError(msg)
