"""The gate on a plot of several samples: each drawn sample is its own histogram scaled by its own σ, and the stack
is the sum of the backgrounds drawn.

Every number is recomputed from the samples' analysis results (σ, the weight sum of the events read) and their
histogram files, so a stack assembled from the wrong files, scales or samples fails review.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from madagents.run_reads import hist_from_json, load_run_hist
from madagents.safe_files import read_bytes, read_text, sha256_inside
from madagents.state import GateResult, Plan, StepResult
from madagents_tools.analysis import analyze, plot_samples
from madagents_tools.analysis.plotting import PB_PER_FB

__all__ = ["expected_scale", "gate_sample_plots"]

RELATIVE = 1e-9
"""Agreement of recomputed numbers (the same float arithmetic up to rounding)."""


def gate_sample_plots(run_dir: Path, plan: Plan, results: dict[str, StepResult]) -> list[GateResult]:
    gates = []
    for step, request in plan.steps_of(plot_samples.Request):
        result = results.get(step.id)
        if not isinstance(result, plot_samples.Result):
            continue  # the missing result is a failed gate of its own
        for record in result.plots:
            try:
                problems = _problems(run_dir, request, record, results)
            except (OSError, ValueError) as exc:
                problems = [f"cannot read {record.name}'s files: {exc}"]
            stacked = "" if record.background_in_range is None else f", backgrounds {record.background_in_range:.4g}"
            message = "; ".join(problems) or (
                f"{len(record.samples)} samples ({record.style}, {record.normalisation}) each its own histogram × "
                f"its own scale{stacked} in range; the PNG draws this file"
            )
            gates.append(GateResult(gate=f"samples plot {record.name}", passed=not problems, message=message))
    return gates


def expected_scale(analysis: analyze.Result, request: plot_samples.Request) -> float | None:
    """Drawn bin = histogram bin × this: σ·L or σ per unit weight of the events read; None for shapes."""
    options = request.plots
    if options.normalisation == "events":
        return None  # only overlaid samples are drawn by events, and those as shapes (stacks need σ)
    weight_sum = analysis.cutflow[0].weight_sum if analysis.cutflow else 0.0
    if analysis.sigma_pb is None or weight_sum <= 0:
        return math.nan
    per_weight = analysis.sigma_pb / weight_sum
    return per_weight * (PB_PER_FB * (options.luminosity_fb or 0.0) if options.normalisation == "luminosity" else 1)


def _problems(
    run_dir: Path, request: plot_samples.Request, record: plot_samples.SamplePlotRecord, results: dict[str, StepResult]
) -> list[str]:
    content = json.loads(read_text(run_dir, record.json_path))
    drawn = {name: hist_from_json(json.dumps(item), name) for name, item in content.get("samples", {}).items()}
    problems = _png_problems(run_dir, record)
    if [sample.name for sample in request.samples] != [shown.name for shown in record.samples] or set(drawn) != {
        sample.name for sample in request.samples
    }:
        return [*problems, f"the plot shows samples {sorted(drawn)}, the plan has {[s.name for s in request.samples]}"]
    for sample, shown in zip(request.samples, record.samples, strict=True):
        problems += _sample_problems(run_dir, request, record.name, sample, shown, drawn[sample.name], results)
    backgrounds = [drawn[sample.name] for sample in request.samples if sample.role == "background"]
    if content.get("backgrounds") is not None and backgrounds:
        stack = hist_from_json(json.dumps(content["backgrounds"]), "backgrounds")
        total = sum(backgrounds[1:], backgrounds[0])
        if not _same(stack, total):
            problems.append(f"the stacked backgrounds of {record.json_path} are not the sum of the backgrounds drawn")
    return problems


def _sample_problems(
    run_dir: Path,
    request: plot_samples.Request,
    name: str,
    sample: plot_samples.SampleInput,
    shown: plot_samples.SampleShown,
    drawn: Any,
    results: dict[str, StepResult],
) -> list[str]:
    """The sample's drawn histogram is its analysis' histogram times the scale its σ gives."""
    analysis = results.get(Path(sample.analysis_result_path).parent.name)
    if not isinstance(analysis, analyze.Result):
        return [f"sample {sample.name} has no analysis result"]
    own = next((item for item in analysis.histograms if item.name == name), None)
    if own is None or shown.source_json_path != own.json_path:
        return [f"sample {sample.name}'s {name} is not drawn from its analysis' histogram"]
    source = load_run_hist(run_dir, own.json_path)
    scale = expected_scale(analysis, request)
    if scale is None:  # shapes: unit area in range
        in_range = float(source.sum().value)
        scale = 1.0 / in_range if in_range > 0 else 0.0
    if not math.isclose(shown.scale, scale, rel_tol=RELATIVE) or not _same(drawn, source * scale):
        return [f"sample {sample.name}'s {name} is drawn scaled by {shown.scale:.6g}, its σ gives {scale:.6g}"]
    return []


def _png_problems(run_dir: Path, record: plot_samples.SamplePlotRecord) -> list[str]:
    from PIL import Image  # noqa: PLC0415 - matplotlib's own dependency

    try:
        with Image.open(io.BytesIO(read_bytes(run_dir, record.png_path))) as image:
            shown = json.loads(image.text.get("Description", "{}"))  # type: ignore[attr-defined]
    except OSError as exc:
        return [f"{record.png_path} is not a readable PNG ({exc})"]
    digest = sha256_inside(run_dir, record.json_path)
    if not isinstance(shown, dict) or shown.get("histogram_sha256") != digest or shown.get("histogram") != record.name:
        return [f"{record.png_path} does not draw {record.json_path} (its metadata names another file)"]
    return []


def _same(first: Any, second: Any) -> bool:
    import numpy as np  # noqa: PLC0415

    return bool(
        np.allclose(first.values(flow=True), second.values(flow=True), rtol=RELATIVE, atol=0.0)
        and np.allclose(first.variances(flow=True), second.variances(flow=True), rtol=RELATIVE, atol=0.0)
    )
