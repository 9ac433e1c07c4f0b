"""The ``madagents`` command."""

from __future__ import annotations

import functools
import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from madagents.cli_exits import print_error, reported_errors, resumable_on_interrupt, stderr
from madagents.errors import UserInputError

if TYPE_CHECKING:
    from madagents.settings import Settings


class Backend(StrEnum):
    local = "local"
    docker = "docker"
    dask = "dask"


app = typer.Typer(no_args_is_help=True, add_completion=False, help="An agentic collider-simulation assistant.")
console = Console()


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
    sandbox: Annotated[
        Backend | None, typer.Option(help="Where tools run (default: docker when a daemon answers).")
    ] = None,
    chunks: Annotated[
        int | None,
        typer.Option(min=1, help="Generate in K seeded chunks in parallel, merged into one sample (Dask by default)."),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address of an existing cluster (default: a local cluster).")
    ] = None,
) -> None:
    """Run a workflow through the agent graph (no LLM) and write a validated run directory."""
    start = time.monotonic()
    settings = _settings(sandbox, chunks=chunks, scheduler=scheduler)
    if settings.sandbox == "local":
        from madagents.sandbox.local import start_spare_early  # noqa: PLC0415

        start_spare_early()  # the generator's interpreter imports Pythia8 while this one imports the agent graph
    from madagents import runner  # noqa: PLC0415 - keeps --help fast
    from madagents.console import RichReporter, summary_table  # noqa: PLC0415
    from madagents.llm.client import make_client  # noqa: PLC0415
    from madagents.workflow import load_any_workflow  # noqa: PLC0415

    reporter = RichReporter(console)
    with reported_errors():
        if resume:  # the backend is chosen anew (--sandbox, or as a new run would), never read from the run
            _refuse_overrides(events=events, seed=seed, out=out, chunks=chunks)
            run_dir = _find_run(workflow, settings.runs_dir)
            driver, make_models = runner.Driver(reporter=reporter), functools.partial(make_client, settings.llm)
            drive = functools.partial(runner.resume_run, run_dir, settings, sys.argv, driver, make_models)
        else:
            spec = load_any_workflow(workflow, events=events, seed=seed, chunks=chunks)
            run_dir = out or runner.default_run_dir(settings, spec.name)
            drive = functools.partial(runner.start_run, spec, run_dir, settings, sys.argv, runner.Driver(reporter))
        with resumable_on_interrupt(run_dir, reporter):
            state = drive()
    console.print(summary_table(state, run_dir, time.monotonic() - start))


@app.command()
def reanalyze(
    run_dir: Path,
    workflow: Path,
    out: Annotated[Path | None, typer.Option(help="New run directory.")] = None,
    sandbox: Annotated[Backend | None, typer.Option(help="Where the analysis runs.")] = None,
) -> None:
    """Run WORKFLOW's analysis (cuts, observables, histograms, gates) on the events of the finished run RUN_DIR."""
    from madagents.reanalysis import run_reanalysis  # noqa: PLC0415 - keeps --help fast

    with reported_errors():
        run_reanalysis(run_dir, workflow, out, _settings(sandbox), console)


@app.command()
def reproduce(
    task_file: Annotated[Path, typer.Argument(help="Markdown task: what to simulate and what to deliver.")],
    out: Annotated[Path | None, typer.Option(help="Run directory (default: runs/task-<timestamp>).")] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed (default: derived from the task text).")] = None,
    max_events: Annotated[int | None, typer.Option(help="Upper bound on the events the planner may ask for.")] = None,
    record: Annotated[Path | None, typer.Option(help="Write every model turn to this cassette.")] = None,
    sandbox: Annotated[Backend | None, typer.Option(help="Where tools run.")] = None,
) -> None:
    """Reproduce a task autonomously: plan, run, review; never asks. Needs a model (OPENAI_API_KEY)."""
    from madagents.console import RichReporter, summary_table  # noqa: PLC0415
    from madagents.session_cli import run_reproduce  # noqa: PLC0415

    start, settings = time.monotonic(), _settings(sandbox)
    with reported_errors():
        state, run_dir = run_reproduce(task_file, out, settings, seed, max_events, record, RichReporter(console))
    console.print(summary_table(state, run_dir, time.monotonic() - start))


@app.command()
def replay(
    cassette: Annotated[Path, typer.Argument(help="A cassette written by --record (or scripted by hand).")],
    out: Annotated[Path | None, typer.Option(help="Where to re-run the session.")] = None,
    sandbox: Annotated[
        Backend | None, typer.Option(help="Where tools run: the cassette's backend (the default), or an error.")
    ] = None,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact/--statistical",
            help="Outputs bit-identical (same platform and versions), or σ and histograms within their "
            "uncertainties (the default: CI across platforms and upgrades).",
        ),
    ] = False,
) -> None:
    """Re-run a recorded session with the model's turns from the cassette; exit 0 only if the outputs match and the
    session did not fail (unless the cassette marks the failure as expected)."""
    from madagents.console import RichReporter  # noqa: PLC0415
    from madagents.session_cli import run_replay  # noqa: PLC0415

    with reported_errors():
        requested = sandbox.value if sandbox is not None else None
        settings, reporter = _settings(sandbox), RichReporter(console)
        differences = run_replay(cassette, out, settings, reporter, console, requested, exact=exact)
    for difference in differences:
        stderr.print(f"[red]✗[/red] {escape(difference)}", highlight=False)
    if differences:
        raise typer.Exit(1)
    how = "same outputs" if exact else "outputs within their uncertainties"
    console.print(f"[green]✓[/green] replay matches the cassette: same model turns, {how}")


@app.command()
def compare(
    run: Annotated[Path, typer.Argument(help="A run directory (or a golden, HEPData or YODA file).")],
    reference: Annotated[
        Path, typer.Argument(help="A run directory, a golden directory, a HEPData YAML table or a YODA file.")
    ],
    tolerances: Annotated[
        Path | None, typer.Option(help="YAML: min_p_value, max_abs_pull, skip per histogram.")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML: a testcase per histogram and σ.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON.")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write overlay plots with ratio panels and an index.html here.")
    ] = None,
    shape_only: Annotated[bool, typer.Option("--shape-only", help="Scale the run to the reference's area.")] = False,
    normalised: Annotated[bool, typer.Option("--normalised", help="Compare both at unit area.")] = False,
) -> None:
    """Compare a run with a reference statistically (χ², pulls, σ); exit 0 compatible, 1 not, 2 bad input."""
    from madagents.compare.command import run_compare  # noqa: PLC0415
    from madagents.compare.statistics import Mode  # noqa: PLC0415

    with reported_errors():
        if shape_only and normalised:
            raise UserInputError("--shape-only and --normalised exclude each other; give one")  # noqa: EM101
        mode: Mode = "shape" if shape_only else "normalised" if normalised else "absolute"
        options = {"tolerances": tolerances, "junit": junit, "json_path": json_out, "html_dir": html}
        compatible = run_compare(run, reference, mode=mode, console=console, **options)
    if not compatible:
        raise typer.Exit(1)


@app.command()
def chat(
    resume: Annotated[
        Path | None, typer.Option(help="Continue a chat session: its directory, or its name under MADAGENTS_RUNS_DIR.")
    ] = None,
    record: Annotated[
        Path | None, typer.Option(help="Write every model turn and your inputs to this cassette.")
    ] = None,
    sandbox: Annotated[Backend | None, typer.Option(help="Where tools run.")] = None,
    replay: Annotated[
        Path | None, typer.Option(help="Answer with the tutor's turns of a chat cassette instead of a model (demos).")
    ] = None,
) -> None:
    """Talk with the tutor: ask for a simulation, get an explanation and a working run. /quit leaves."""
    from madagents.console import RichReporter  # noqa: PLC0415
    from madagents.session_cli import run_chat  # noqa: PLC0415

    with reported_errors():
        run_chat(resume, record, _settings(sandbox), RichReporter(console), console, replay)


@app.command()
def mcp(
    sandbox: Annotated[
        Backend | None, typer.Option(help="Where tools run (default: docker when a daemon answers).")
    ] = None,
) -> None:
    """Serve the tools over MCP (stdio) to desktop assistants and IDE agents: processes, check, run, status,
    validate, report. Runs go under MADAGENTS_RUNS_DIR, in the background; poll run_status."""
    from madagents.mcp_server import build_server  # noqa: PLC0415 - the MCP SDK loads slowly

    build_server(_settings(sandbox)).run("stdio")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; beyond localhost the page asks for a token.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    replay: Annotated[
        Path | None, typer.Option(help="Answer from this recorded chat cassette instead of a model (demos, tests).")
    ] = None,
    sandbox: Annotated[Backend | None, typer.Option(help="Where tools run (with --replay: the cassette's).")] = None,
) -> None:
    """The tutor chat as a web page: answers, tool calls, plots, the plan, the cost, and a browser of the runs."""
    from madagents.web.serve import serve as run_server  # noqa: PLC0415 - FastAPI stays out of the other commands

    with reported_errors():
        run_server(host, port, replay, _settings(sandbox), console)


@app.command()
def rewind(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    step: Annotated[
        str, typer.Argument(help="Role to restart from: planner, installer, generator, analyst, reviewer.")
    ],
) -> None:
    """Restart a run from the checkpoint before STEP; continue it with `madagents run --resume RUN_DIR`."""
    from madagents.runner import rewind_run  # noqa: PLC0415

    with reported_errors():
        checkpoint = rewind_run(run_dir, step, sys.argv)
    console.print(
        f"rewound {run_dir} to checkpoint {checkpoint} (before {step}); now: madagents run --resume {run_dir}"
    )


@app.command()
def validate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    reproduce: Annotated[
        bool, typer.Option(help="Also re-execute reproduce.sh (in a container) and compare histograms and σ.")
    ] = True,
    sandbox: Annotated[
        Backend | None, typer.Option(help="Where reproduce.sh runs (default: docker if a daemon answers).")
    ] = None,
    run_on_host: Annotated[
        bool,
        typer.Option(
            "--run-on-host",
            help="Without Docker: run the run's reproduce.sh and its tools on this host, as you (trusted runs only).",
        ),
    ] = False,
) -> None:
    """Check a run directory: its files against provenance.json, every physics gate, and a re-execution of
    reproduce.sh in a container; exit 0 only when all pass. Nothing of the directory runs on the host."""
    from madagents.agents.reviewer import review_run_dir  # noqa: PLC0415
    from madagents.runner import open_context  # noqa: PLC0415

    with reported_errors():
        ctx = open_context(run_dir, _settings(sandbox), sys.argv, reproduce=reproduce, on_host=run_on_host)
    verdict = review_run_dir(ctx, reproduce=reproduce)
    for gate in verdict.gates:
        mark = "[yellow]?[/yellow]" if gate.inconclusive else ("[green]✓[/green]" if gate.passed else "[red]✗[/red]")
        console.print(f"{mark} [bold]{gate.gate}[/bold]: {gate.message}", highlight=False)
    if not verdict.signed_off:
        stderr.print(f"[red]{len(verdict.failures())} of {len(verdict.gates)} gates failed[/red]")
        raise typer.Exit(1)


@app.command()
def doctor(
    sandbox: Annotated[Backend | None, typer.Option(help="Check this backend (default: as `run` would pick).")] = None,
) -> None:
    """Check the backend, daemon, images and physics programs; every ✗ comes with its fix."""
    from rich.table import Table  # noqa: PLC0415

    from madagents.doctor import run_checks  # noqa: PLC0415

    settings = _settings(sandbox)
    table = Table("", "check", "found", "fix", title="madagents doctor")
    checks = run_checks(settings)
    for check in checks:
        mark, fix = ("[green]✓[/green]", "") if check.ok else ("[red]✗[/red]", check.fix)
        table.add_row(mark, check.name, check.detail, fix)
    console.print(table)
    if any(check.required and not check.ok for check in checks):
        raise typer.Exit(1)


@app.command()
def processes(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable: one JSON list.")] = False,
) -> None:
    """List the process catalogue: name, description, final states, parameters."""
    from madagents.processes import catalogue_summaries  # noqa: PLC0415

    summaries = catalogue_summaries()
    if as_json:
        typer.echo(json.dumps([summary.model_dump(mode="json") for summary in summaries], indent=1, ensure_ascii=False))
        return
    from rich.table import Table  # noqa: PLC0415

    table = Table("name", "description", "final states", "parameters", title="madagents process catalogue")
    for summary in summaries:
        states = "; ".join(" ".join(state) for state in summary.final_states) or "(MG5 only)"
        params = ", ".join(f"{key}{'*' if p.required else ''}" for key, p in summary.parameters.items())
        table.add_row(summary.name, summary.description, states, params)
    console.print(table)
    console.print("* required; details: madagents processes --json")


images_app = typer.Typer(no_args_is_help=True, help="Sandbox images, built locally from containers/.")
app.add_typer(images_app, name="images")


@images_app.command("build")
def images_build(
    name: Annotated[str, typer.Argument(help="hep (Pythia8), hep-full (+ MG5, Delphes) or ml (+ torch).")] = "hep",
    source: Annotated[
        Path | None,
        typer.Option(help="hep-full: a directory of MG5_aMC_v*.tar.gz, delphes-*.tar.gz, *_UFO.tar.gz."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Rebuild every layer of this image (e.g. after a broken package).")
    ] = False,
) -> None:
    """Build a sandbox image (and the images it starts from); cached layers are reused."""
    from madagents.images import IMAGES, build_image  # noqa: PLC0415

    if name not in IMAGES:
        print_error(f"unknown image {name!r}; choose one of {', '.join(IMAGES)}")
        raise typer.Exit(2)
    try:
        build_image(
            name, lambda line: console.print(line, markup=False, highlight=False), source=source, no_cache=no_cache
        )
    except ValueError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from None
    except (RuntimeError, OSError) as exc:
        print_error(str(exc))
        raise typer.Exit(1) from None


def _settings(sandbox: Backend | None, *, chunks: int | None = None, scheduler: str | None = None) -> Settings:
    """Settings from the environment and the options; chunks or a scheduler run the tools on Dask by default."""
    from madagents.settings import environment_settings  # noqa: PLC0415 - pydantic-settings stays out of --help

    with reported_errors():
        settings = environment_settings()
    if sandbox is None and (scheduler is not None or (chunks or 1) > 1):
        sandbox = Backend.dask
    if sandbox is not None:
        settings = settings.model_copy(update={"sandbox": sandbox.value})
    if scheduler is not None:
        settings = settings.model_copy(update={"dask": settings.dask.model_copy(update={"scheduler": scheduler})})
    return settings


def _find_run(given: Path, runs_dir: Path) -> Path:
    """A run directory given as a path or as a run id under the runs directory."""
    return given if given.is_dir() or given.is_absolute() else runs_dir / given


def _refuse_overrides(**options: object) -> None:
    given = [name for name, value in options.items() if value is not None]
    if given:
        msg = f"--resume continues a run exactly as it was started; drop --{', --'.join(given)}"
        raise UserInputError(msg)
