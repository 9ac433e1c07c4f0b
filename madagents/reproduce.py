"""reproduce.sh: a standalone bash script that re-creates a run's events and histograms from its plan."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from importlib import resources
from pathlib import Path

import jinja2

from madagents.context import RunContext
from madagents.rundir import RunDir
from madagents.state import GateResult, Plan, StepResult, typed_results
from madagents.toolcall import call_tool
from madagents.validation import load_hist
from tools import analyze

__all__ = [
    "SCRIPT_NAME",
    "VERIFY_DIR",
    "render_reproduce_script",
    "render_template",
    "verify_reproduction",
    "write_reproduce_script",
]

SCRIPT_NAME = "reproduce.sh"
VERIFY_DIR = "verify"
"""Scratch space of the reviewer's reproduction check inside the run directory."""


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


def write_reproduce_script(rundir: RunDir, plan: Plan) -> Path:
    path = rundir.write_text(SCRIPT_NAME, render_reproduce_script(plan, rundir.run_id))
    os.chmod(path, 0o755)
    return path


def render_reproduce_script(plan: Plan, run_id: str) -> str:
    """The text of reproduce.sh for ``plan``: every value that reaches the shell is quoted."""
    steps = [
        {
            "id": step.id,
            "tool": step.request.tool,
            "request_json": step.request.model_dump_json(indent=2),
        }
        for step in plan.steps
    ]
    return render_template(
        "reproduce.sh.j2", run_id=run_id, workflow=plan.workflow, run_seed=plan.run_seed, steps=steps
    )


PREFIX_STABLE_TOOLS = {"pythia8_generate", "analyze"}
"""Tools whose first N events with the same seed are the events of a shorter run (Pythia8 draws in order)."""


def verify_reproduction(ctx: RunContext, plan: Plan, results: dict[str, StepResult]) -> GateResult:
    """Execute reproduce.sh in a clean directory and compare its histograms with the run's.

    For large runs of prefix-stable plans only the first ``settings.verify_events`` events are regenerated; the
    run's own events are then analysed up to the same count, so both sides hold exactly the same events.
    """
    n_check = plan.expectations.n_events
    if all(step.request.tool in PREFIX_STABLE_TOOLS for step in plan.steps):
        n_check = min(n_check, ctx.settings.verify_events)
    events = ["env", f"EVENTS={n_check}"] if n_check < plan.expectations.n_events else ["env"]
    executed = ctx.sandbox.run(
        [*events, f"PYTHON={ctx.sandbox.python}", "bash", SCRIPT_NAME, f"{VERIFY_DIR}/reproduced"],
        timeout_s=ctx.settings.tool_timeout_s,
        log_path=f"{VERIFY_DIR}/reproduce.log",
    )
    if executed.exit_code != 0:
        tail = executed.output_tail.strip().splitlines()[-1:] or ["no output"]
        message = f"reproduce.sh failed (exit code {executed.exit_code}): {tail[0]}; see {VERIFY_DIR}/reproduce.log"
        return GateResult(gate="reproduce.sh", passed=False, message=message)
    if n_check < plan.expectations.n_events:
        pairs, error = _prefix_pairs(ctx, plan, results, n_check)
        if error is not None:
            return GateResult(gate="reproduce.sh", passed=False, message=error)
    else:
        # every histogram any step wrote (analyses, and the ML tools' plots) must come out the same
        pairs = [
            (ctx.rundir.file(record.path), ctx.rundir.file(f"{VERIFY_DIR}/reproduced/{record.path}"))
            for result in results.values()
            for record in result.files
            if record.kind == "hist-json"
        ]
    if not pairs:
        return GateResult(gate="reproduce.sh", passed=False, message="the run wrote no histograms to compare")
    differences = [difference for reference, reproduced in pairs if (difference := _compare(reference, reproduced))]
    shutil.rmtree(ctx.rundir.file(f"{VERIFY_DIR}/reproduced/events"), ignore_errors=True)  # large, and redundant
    scope = "all" if n_check == plan.expectations.n_events else f"the first {n_check} of"
    same = f"identical histograms from {scope} {plan.expectations.n_events} events"
    if plan.expectations.n_events == 0:  # e.g. a surrogate: no events, but its plots
        same = f"{len(pairs)} identical histograms"
    message = "; ".join(differences) or same
    return GateResult(gate="reproduce.sh", passed=not differences, message=message)


def _prefix_pairs(
    ctx: RunContext, plan: Plan, results: dict[str, StepResult], n_check: int
) -> tuple[list[tuple[Path, Path]], str | None]:
    """Histograms of the run's first ``n_check`` events (analysed again) beside the reproduced ones."""
    pairs = []
    for step, analysis in typed_results(plan, results, analyze.Result):
        request = step.request
        if not isinstance(request, analyze.Request):
            continue
        prefix_dir = f"{VERIFY_DIR}/original/{step.id}"
        update = {"max_events": n_check, "out_dir": f"{prefix_dir}/hists"}
        prefix, _ = call_tool(ctx, prefix_dir, request.model_copy(update=update), analyze.Result)
        if not prefix.ok:
            return [], f"could not analyse the run's first {n_check} events: {prefix.error}"
        pairs += [
            (
                ctx.rundir.file(f"{prefix_dir}/hists/{Path(record.json_path).name}"),
                ctx.rundir.file(f"{VERIFY_DIR}/reproduced/{record.json_path}"),
            )
            for record in analysis.histograms
        ]
    return pairs, None


def _compare(reference: Path, reproduced: Path) -> str | None:
    import numpy as np  # noqa: PLC0415 - heavy, only needed here

    try:
        expected, found = load_hist(reference), load_hist(reproduced)
    except (OSError, ValueError) as exc:
        return f"cannot compare {reference.name}: {exc}"
    values = (np.asarray(expected.values(flow=True)), np.asarray(found.values(flow=True)))
    if values[0].shape != values[1].shape:
        return f"{reference.stem}: binning differs"
    if not np.array_equal(*values):
        n_bins = int(np.count_nonzero(values[0] != values[1]))
        return f"{reference.stem}: {n_bins} bins differ (max |Δ| = {np.max(np.abs(values[0] - values[1])):g})"
    return None
