"""Gates on what a run claims: each number of the results is recomputed from the histograms and events.

The plot gate ties each PNG to its histogram (name and sha256 of the JSON file in the PNG's metadata) and to the
generator's σ (the legend); the analysis gate checks the analysis' counts and σ_fid against the event files and
the generation; the report gate requires report.md to show the results section re-rendered from the record.
"""

from __future__ import annotations

import difflib
import io
import json
import math
from pathlib import Path
from typing import Any

from madagents.claims import build_claims, histogram_numbers, render_claims
from madagents.run_reads import load_run_hist
from madagents.safe_files import read_bytes, read_text, sha256_inside
from madagents.state import GateResult, Plan, StepResult
from madagents_tools.analysis import analyze
from madagents_tools.analysis.analysis_spec import HistogramSpec
from madagents_tools.contract import ToolResult

__all__ = ["gate_analysis_record", "gate_plots", "gate_report"]

RELATIVE = 1e-9
"""Agreement of numbers that are recomputed, not re-measured (the same float arithmetic up to rounding)."""


def gate_plots(
    run_dir: Path,
    request: analyze.Request,
    analysis: analyze.Result,
    label: str = "",
    generation: ToolResult | None = None,
) -> list[GateResult]:
    specs = {spec.name: spec for spec in request.analysis.histograms}
    results = []
    for record in analysis.histograms:
        problems = _plot_problems(run_dir, record, specs.get(record.name), analysis)
        if not problems:
            problems = _legend_sigma(record, generation)
        message = "; ".join(problems) or f"{record.bins} bins in {list(record.range)}, legend matches the data"
        results.append(GateResult(gate=f"plot {record.name}{label}", passed=not problems, message=message))
    return results


def _read_plot(run_dir: Path, record: analyze.HistogramRecord) -> tuple[Any, str, dict[str, Any]]:
    """The histogram, the sha256 of its JSON file and what the PNG says it shows; ``ValueError`` if unreadable."""
    from PIL import Image  # noqa: PLC0415 - matplotlib's own dependency

    histogram = load_run_hist(run_dir, record.json_path)
    digest = sha256_inside(run_dir, record.json_path)
    try:
        with Image.open(io.BytesIO(read_bytes(run_dir, record.png_path))) as image:
            shown = json.loads(image.text.get("Description", "{}"))  # type: ignore[attr-defined]
    except OSError as exc:
        msg = f"{record.png_path} is not a readable PNG ({exc})"
        raise ValueError(msg) from None
    if not isinstance(shown, dict):
        msg = f"{record.png_path}'s Description is not a JSON object"
        raise ValueError(msg)
    return histogram, digest, shown


def _plot_problems(
    run_dir: Path, record: analyze.HistogramRecord, spec: HistogramSpec | None, analysis: analyze.Result
) -> list[str]:
    if spec is None:
        return [f"{record.name} was not asked for by the plan"]
    try:
        histogram, digest, shown = _read_plot(run_dir, record)
        numbers = histogram_numbers(histogram)
    except (OSError, ValueError) as exc:
        return [f"cannot read {record.name}'s files: {exc}"]
    axis, problems = histogram.axes[0], []
    if (len(axis), (float(axis.edges[0]), float(axis.edges[-1]))) != (spec.bins, spec.range):
        problems.append(
            f"JSON has {len(axis)} bins in [{axis.edges[0]}, {axis.edges[-1]}], plan {spec.bins} in {list(spec.range)}"
        )
    if shown.get("histogram") != record.name or shown.get("histogram_sha256") != digest:
        problems.append(
            f"{record.png_path} does not draw {record.json_path}: it names histogram {shown.get('histogram')!r} "
            f"with sha256 {str(shown.get('histogram_sha256'))[:12]}…, the JSON file's is {digest[:12]}…"
        )
    if shown.get("bins") != spec.bins or tuple(shown.get("range", ())) != spec.range:
        problems.append(
            f"PNG shows binning {shown.get('bins')} in {shown.get('range')}, plan {spec.bins} in {list(spec.range)}"
        )
    if shown.get("legend") != record.legend:
        problems.append(f"PNG legend {shown.get('legend')!r} differs from the recorded legend {record.legend!r}")
    entries = float(histogram.sum(flow=True).value)
    if not math.isclose(entries, record.entries, rel_tol=RELATIVE):
        problems.append(f"JSON holds {entries} entries, the legend source says {record.entries}")
    if record.peak != numbers["peak"]:
        problems.append(f"the result says the highest bin is at {record.peak}, the JSON file's is at {numbers['peak']}")
    if str(analysis.n_selected) not in record.legend:
        problems.append(f"legend does not show N = {analysis.n_selected} selected events")
    return problems


def _legend_sigma(record: analyze.HistogramRecord, generation: ToolResult | None) -> list[str]:
    """The PNG's legend shows the generator's σ: σ changed in the results after plotting shows up here."""
    sigma, error = getattr(generation, "sigma_pb", None), getattr(generation, "sigma_err_pb", None)
    if sigma is None or error is None:
        return []
    expected = analyze.sigma_text(sigma, error)
    if expected not in record.legend:
        return [f"the PNG legend {record.legend!r} does not show the generation's {expected}"]
    return []


def gate_analysis_record(
    results: dict[str, StepResult], request: analyze.Request, analysis: analyze.Result, label: str = ""
) -> GateResult:
    """The analysis' event counts against the files it read, and σ_fid against σ × the selection efficiency."""
    problems = []
    generation = results.get(Path(request.generation_result_path).parent.name)
    generated = getattr(generation, "n_events", None)
    if analysis.n_generated != generated:
        problems.append(f"the analysis says {analysis.n_generated} events were generated, the generation {generated}")
    claimed = [
        record.n_events for result in results.values() for record in result.files if record.path == request.events_path
    ]
    limit = request.max_events or math.inf
    if claimed and claimed[0] is not None and analysis.n_events != min(claimed[0], limit):
        problems.append(f"the analysis read {analysis.n_events} events, {request.events_path} holds {claimed[0]}")
    if analysis.cutflow and analysis.cutflow[-1].events != analysis.n_selected:
        problems.append(
            f"the cut flow ends at {analysis.cutflow[-1].events} events, the selection has {analysis.n_selected}"
        )
    problems += _fiducial_problems(analysis)
    message = "; ".join(problems) or (
        f"{analysis.n_selected} of {analysis.n_events} events selected; σ_fid = σ × efficiency "
        f"= {analysis.fiducial_sigma_pb:.5g} ± {analysis.fiducial_sigma_err_pb:.2g} pb"
    )
    return GateResult(gate=f"analysis record{label}", passed=not problems, message=message)


def _fiducial_problems(analysis: analyze.Result) -> list[str]:
    """σ_fid = σ × n_selected / n_read, with its binomial error, for unweighted events (every Pythia8 sample)."""
    sigma, error, fiducial, fiducial_err = (
        analysis.sigma_pb,
        analysis.sigma_err_pb,
        analysis.fiducial_sigma_pb,
        analysis.fiducial_sigma_err_pb,
    )
    if sigma is None or error is None or fiducial is None or fiducial_err is None or analysis.n_events <= 0:
        return [f"σ = {sigma} ± {error} pb, σ_fid = {fiducial} ± {fiducial_err} pb over {analysis.n_events} events"]
    if not all(float(entries).is_integer() for entries in (record.entries for record in analysis.histograms)):
        return []  # weighted events: the efficiency is a ratio of weight sums the histograms do not hold
    efficiency = analysis.n_selected / analysis.n_events
    expected = sigma * efficiency
    expected_err = math.hypot(efficiency * error, sigma * math.sqrt(efficiency * (1 - efficiency) / analysis.n_events))
    if not (math.isclose(fiducial, expected, rel_tol=1e-6) and math.isclose(fiducial_err, expected_err, rel_tol=1e-6)):
        return [
            f"σ_fid = {fiducial:.6g} ± {fiducial_err:.2g} pb, but σ × {analysis.n_selected}/{analysis.n_events} "
            f"= {expected:.6g} ± {expected_err:.2g} pb"
        ]
    return []


def gate_report(run_dir: Path, plan: Plan, results: dict[str, StepResult]) -> GateResult:
    """report.md shows the results section rendered from the record of the files, word for word."""
    gate = "report numbers"
    try:
        expected = render_claims(build_claims(run_dir, plan, results))
        report = read_text(run_dir, "report.md")
    except (OSError, ValueError) as exc:
        return GateResult(gate=gate, passed=False, message=f"cannot check report.md: {exc}")
    if expected in report:
        return GateResult(gate=gate, passed=True, message="report.md's results are those of the result files")
    start = report.find("## Results")
    shown = report[start : start + len(expected)].splitlines() if start >= 0 else []
    diff = [line for line in difflib.unified_diff(expected.splitlines(), shown, lineterm="", n=0)]
    record = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    stated = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    pairs = "; ".join(
        f"the record gives {a.strip()!r}, report.md {b.strip()!r}" for a, b in zip(record, stated, strict=False)
    )
    message = f"report.md does not state the record's results: {pairs or 'no results section'}"
    return GateResult(gate=gate, passed=False, message=message)
