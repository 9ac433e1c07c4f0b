"""reproduce.sh: a standalone bash script that re-creates a run's events and histograms from its plan."""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
from importlib import resources
from pathlib import Path

import jinja2

from madagents.context import RunContext
from madagents.early_reproduction import script_digest
from madagents.reproduce_events import event_differences
from madagents.run_reads import load_run_hist
from madagents.rundir import RunDir
from madagents.safe_files import UnsafePathError, read_model
from madagents.sandbox.base import ExecResult
from madagents.sandbox.docker import (
    CONTAINER_WORKDIR,
    MODELS_ENV,
    MODELS_MOUNT,
    SANDBOX_UID,
    build_command,
    cli_flags,
    container_policy,
)
from madagents.sandbox.host import TOOL_LOCATION_VARS, DockerLimits, ToolHost
from madagents.source_run import SOURCE_DIR
from madagents.state import GateResult, Plan, PlanStep, StepResult
from madagents.toolcall import writable_dirs
from madagents_tools import TOOL_MODULES
from madagents_tools.analysis import analyze
from madagents_tools.contract import ToolResult
from madagents_tools.generation import merge_samples, pythia8_generate
from madagents_tools.io import source_events

__all__ = [
    "SCRIPT_NAME",
    "VERIFY_DIR",
    "render_reproduce_script",
    "render_template",
    "reproduction_command",
    "run_tool_host",
    "start_early_reproduction",
    "verify_reproduction",
    "write_reproduce_script",
    "write_verify_script",
]

SCRIPT_NAME = "reproduce.sh"
VERIFY_DIR = "verify"
"""Scratch space of the reviewer's reproduction check inside the run directory."""
REPRODUCED = f"{VERIFY_DIR}/reproduced"
GATE = "reproduce.sh"
SIGMA_PULL_MAX = 5.0
"""Combined statistical errors by which the σ of a regenerated prefix may differ from the full run's."""
MAX_CAUSE = 600
"""Characters of a failing step's error quoted in the gate message."""


def render_template(name: str, **variables: object) -> str:
    """Render ``madagents/templates/<name>`` with Jinja2; a missing variable is an error, not an empty string."""
    source = resources.files("madagents").joinpath("templates", name).read_text()
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    # Shell templates quote every value (``sh``); a comment shows a value as one printable line (``comment``).
    environment.filters["sh"] = shlex.quote
    environment.filters["comment"] = _comment
    return environment.from_string(source).render(**variables)


def _comment(value: object) -> str:
    """A value inside a shell or markdown comment: quoted, one line, control characters escaped."""
    return json.dumps(str(value), ensure_ascii=False).translate(_LINE_BREAKS)


_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\x85"})
"""Line separators json.dumps leaves as they are, which some shells and editors break lines on."""


def run_tool_host(ctx: RunContext) -> ToolHost:
    """What runs this context's tools, with the wall-clock limit of one call: what reproduce.sh is rendered from."""
    return ctx.sandbox.tool_host().model_copy(update={"timeout_s": ctx.settings.tool_timeout_s})


def write_reproduce_script(rundir: RunDir, plan: Plan, host: ToolHost) -> Path:
    path = rundir.write_text(SCRIPT_NAME, render_reproduce_script(plan, rundir.run_id, host))
    os.chmod(path, 0o755)
    return path


def render_reproduce_script(plan: Plan, run_id: str, host: ToolHost, *, run_dir_from_script: str = "") -> str:
    """The text of reproduce.sh for ``plan``, run where ``host`` says: every value that reaches the shell is quoted.

    Everything it depends on is in plan.json, run.json (the id) and provenance.json (the host), so the integrity
    check renders it again from those. ``run_dir_from_script``: the run directory relative to a script written
    elsewhere than its top (where it finds the run's copies of source events).
    """
    steps = [
        {
            "id": step.id,
            "tool": step.request.tool,
            "module": TOOL_MODULES[step.request.tool],
            "request_json": step.request.model_dump_json(indent=2),
            "writable": _writable(step),
        }
        for step in plan.steps
    ]
    sources = [
        {
            "run": request.source_run,
            "run_id": request.source_run_id,
            "step": step.id,
            "paths": [
                path.removeprefix(f"{SOURCE_DIR}/") for path in (request.events_path, request.generation_result_path)
            ],
        }
        for step, request in plan.steps_of(source_events.Request)
    ]
    policy = container_policy(host.limits or DockerLimits(), ".", models=False)
    return render_template(
        "reproduce.sh.j2",
        run_id=run_id,
        workflow=plan.workflow,
        run_seed=plan.run_seed,
        steps=steps,
        host=host,
        location_vars=TOOL_LOCATION_VARS,
        build_command=build_command(host.image_kind or "hep"),
        docker_flags=shlex.join(cli_flags(policy)),
        workdir=CONTAINER_WORKDIR,
        uid=SANDBOX_UID,
        models_mount=MODELS_MOUNT,
        models_env=MODELS_ENV,
        sources=sources,
        limit=str(math.ceil(host.timeout_s)) if host.timeout_s else "",  # bash counts whole seconds
        run_dir_from_script=run_dir_from_script,
    )


def write_verify_script(ctx: RunContext, plan: Plan) -> str:
    """reproduce.sh rendered again from plan.json for this sandbox, in verify/: what the reviewer executes instead
    of a run's own script that it cannot check (one made before provenance.json recorded the tool host).

    Returns its path in the run directory.
    """
    relative = f"{VERIFY_DIR}/{SCRIPT_NAME}"
    text = render_reproduce_script(plan, ctx.rundir.run_id, run_tool_host(ctx), run_dir_from_script="..")
    ctx.rundir.write_text(relative, text)
    return relative


def _writable(step: PlanStep) -> list[str]:
    """The directories the step's container may write; none for a request the run refused too (``call_tool``)."""
    try:
        return writable_dirs(step.request, f"steps/{step.id}")
    except ValueError:
        return []


PREFIX_STABLE_TOOLS = {"pythia8_generate", "merge_samples", "analyze"}
"""Tools whose first N events with the same seed are the events of a shorter run (Pythia8 draws in order); with
chunks, ``EVENTS=N`` regenerates the first N events of each, which the check compares chunk by chunk."""


def reproduction_command(ctx: RunContext, plan: Plan, script: str = SCRIPT_NAME) -> tuple[list[str], int]:
    """The command that runs ``script`` (the run's reproduce.sh) for the check, and how many events it regenerates.

    For large runs of prefix-stable plans only the first ``settings.verify_events`` events are regenerated, and never
    more than the smallest chunk holds: ``EVENTS=N`` sets every generation request to N events.
    """
    n_check = plan.expectations.n_events
    if all(step.request.tool in PREFIX_STABLE_TOOLS for step in plan.steps):
        n_check = min(n_check, ctx.settings.verify_events)
    if n_check < plan.expectations.n_events:  # a prefix of each chunk, so at most the smallest chunk
        chunks = [step.request.n_events for step in plan.steps if isinstance(step.request, pythia8_generate.Request)]
        n_check = min(n_check, *chunks)
    events = ["env", f"EVENTS={n_check}"] if n_check < plan.expectations.n_events else ["env"]
    return [*events, f"PYTHON={ctx.sandbox.python}", "bash", script, REPRODUCED], n_check


def start_early_reproduction(ctx: RunContext, plan: Plan) -> None:
    """Start the check's reproduce.sh now, beside the generation, when it regenerates at most ``verify_events``.

    Not beside chunks: they take every core (or Dask worker) there is, and the check would hold one of them back.
    """
    command, n_check = reproduction_command(ctx, plan)
    if n_check <= ctx.settings.verify_events and not plan.steps_of(merge_samples.Request):
        digest = script_digest(ctx.rundir.file(SCRIPT_NAME).read_bytes())
        unchecked = 1 - n_check / max(plan.expectations.n_events, 1)
        ctx.early_reproduction.start(command, digest, lambda: _run_script(ctx, command), unchecked=unchecked)


def _run_script(ctx: RunContext, command: list[str]) -> ExecResult:
    return ctx.sandbox.run(
        command, timeout_s=ctx.settings.tool_timeout_s, log_path=f"{VERIFY_DIR}/reproduce.log", writable=[REPRODUCED]
    )


def verify_reproduction(
    ctx: RunContext, plan: Plan, results: dict[str, StepResult], *, script: str = SCRIPT_NAME
) -> GateResult:
    """Execute ``script`` in a clean directory (or take the early run's result) and compare with the run.

    A full reproduction must give the same histograms and σ; a prefix the same events as the run's first ones,
    column by column (``reproduce_events``), and σ within the combined errors.
    """
    command, n_check = reproduction_command(ctx, plan, script)
    digest = script_digest(ctx.rundir.file(script).read_bytes())
    executed = ctx.early_reproduction.take(command, digest) or _run_script(ctx, command)
    if executed.exit_code != 0:
        return GateResult(gate=GATE, passed=False, message=_failure(ctx.rundir.path, plan, executed))
    prefix = n_check < plan.expectations.n_events
    if prefix:
        differences, compared = event_differences(ctx.rundir.path, plan, REPRODUCED, n_check)
        same = f"the first {n_check} of {plan.expectations.n_events} events identical in every branch"
    else:
        # every histogram any step wrote (analyses, and the ML tools' plots) must come out the same
        compared = [record.path for result in results.values() for record in result.files if record.kind == "hist-json"]
        differences = [
            difference for path in compared if (difference := _compare(ctx.rundir.path, path, f"{REPRODUCED}/{path}"))
        ]
        # and the events themselves: a changed event can leave every histogram as it was
        differences += event_differences(ctx.rundir.path, plan, REPRODUCED, None)[0]
        same = f"identical histograms and events from all {plan.expectations.n_events} events"
        if plan.expectations.n_events == 0:  # e.g. a surrogate: no events, but its plots
            same = f"{len(compared)} identical histograms"
    if not compared:
        return GateResult(
            gate=GATE, passed=False, message=f"the run wrote no {'events' if prefix else 'histograms'} to compare"
        )
    sigmas, sigma_note = _sigma_differences(ctx.rundir.path, plan, results, n_check if prefix else None)
    shutil.rmtree(ctx.rundir.file(f"{REPRODUCED}/events"), ignore_errors=True)  # large, and redundant
    message = "; ".join([*differences, *sigmas]) or f"{same}{sigma_note}"
    return GateResult(gate=GATE, passed=not differences and not sigmas, message=message)


def _failure(run_dir: Path, plan: Plan, executed: ExecResult) -> str:
    """Why reproduce.sh stopped: the failing step's own error (Pythia8's or MG5's message) when it wrote one."""
    for step in plan.steps:
        relative = f"{REPRODUCED}/steps/{step.id}/result.json"
        try:
            result = read_model(run_dir, relative, ToolResult)
        except UnsafePathError:
            continue
        if not result.ok:
            cause = " ".join((result.error or "no error given").split())
            cause = cause if len(cause) <= MAX_CAUSE else cause[: MAX_CAUSE - 1] + "…"
            return f"reproduce.sh failed at step {step.id} ({step.request.tool}): {cause}"
    tail = executed.output_tail.strip().splitlines()[-1:] or ["no output"]
    return f"reproduce.sh failed (exit code {executed.exit_code}): {tail[0]}; see {VERIFY_DIR}/reproduce.log"


def _sigma_differences(
    run_dir: Path, plan: Plan, results: dict[str, StepResult], n_prefix: int | None
) -> tuple[list[str], str]:
    """σ of every generation against the reproduced one: equal for all events, else within the combined errors.

    Pythia8's σ is a running estimate, so a prefix of N events gives a slightly different value with a larger error.
    """
    problems, compared = [], 0
    for step in plan.steps:
        result = results.get(step.id)
        sigma, error = getattr(result, "sigma_pb", None), getattr(result, "sigma_err_pb", None)
        if result is None or isinstance(result, analyze.Result) or sigma is None or error is None:
            continue
        try:
            again = read_model(run_dir, f"{REPRODUCED}/steps/{step.id}/result.json", type(result))
        except UnsafePathError as exc:
            problems.append(f"cannot read the reproduced σ of step {step.id}: {exc}")
            continue
        found, found_error = getattr(again, "sigma_pb", None), getattr(again, "sigma_err_pb", None)
        compared += 1
        if n_prefix is None and (found, found_error) != (sigma, error):
            problems.append(f"step {step.id}: σ = {sigma} ± {error} pb in the run, {found} ± {found_error} reproduced")
        elif n_prefix is not None and not _within(sigma, error, found, found_error):
            problems.append(
                f"step {step.id}: σ = {sigma:.5g} ± {error:.2g} pb in the run, {found} ± {found_error} pb from its "
                f"first {n_prefix} events: more than {SIGMA_PULL_MAX:g} combined errors apart"
            )
    if n_prefix is None:  # the message of a full reproduction is the histograms' alone: σ equal is implied
        return problems, ""
    note = f"; σ of {compared} step(s) within {SIGMA_PULL_MAX:g} combined errors of the first {n_prefix} events'"
    return problems, note if compared else ""


def _within(sigma: float, error: float, found: float | None, found_error: float | None) -> bool:
    if found is None or found_error is None:
        return False
    return abs(sigma - found) <= SIGMA_PULL_MAX * math.hypot(error, found_error)


def _compare(run_dir: Path, reference: str, reproduced: str) -> str | None:
    import numpy as np  # noqa: PLC0415 - heavy, only needed here

    name = Path(reference).stem
    try:
        expected, found = load_run_hist(run_dir, reference), load_run_hist(run_dir, reproduced)
    except (OSError, ValueError) as exc:
        return f"cannot compare {name}: {exc}"
    values = (np.asarray(expected.values(flow=True)), np.asarray(found.values(flow=True)))
    if values[0].shape != values[1].shape:
        return f"{name}: binning differs"
    if not np.array_equal(*values):
        n_bins = int(np.count_nonzero(values[0] != values[1]))
        return f"{name}: {n_bins} bins differ (max |Δ| = {np.max(np.abs(values[0] - values[1])):g})"
    return None
