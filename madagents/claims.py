"""One record of the numbers a run states: σ, σ_fid, event counts, histogram entries and peaks.

``report.md`` renders its results section from this record. The reviewer builds the record again from the step
results and the histogram files, checks it against the events and histograms (:mod:`madagents.claim_gates`) and
requires report.md to show the re-rendered section verbatim, so a number edited anywhere alone cannot pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from madagents.run_reads import hist_from_json, load_run_hist
from madagents.safe_files import read_text
from madagents.state import Plan, StepResult, typed_results
from madagents_tools.analysis import analyze, plot_samples
from madagents_tools.contract import ToolResult

__all__ = [
    "AnalysisClaim",
    "Claims",
    "GenerationClaim",
    "HistogramClaim",
    "SampleClaim",
    "SamplePlotClaim",
    "build_claims",
    "histogram_claim",
    "render_claims",
]


class HistogramClaim(BaseModel):
    """What a histogram's JSON file holds, as the report states it."""

    name: str
    observable: str
    json_path: str
    png_path: str
    bins: int
    range: tuple[float, float]
    in_range: float = Field(description="Sum of weights inside the axis range.")
    underflow: float
    overflow: float
    peak: float | None = Field(description="Centre of the highest bin in range; None for an empty histogram.")


class GenerationClaim(BaseModel):
    """A step that produced events: its σ (if it has one) and its event count."""

    step_id: str
    sigma_pb: float | None = None
    sigma_err_pb: float | None = None
    n_events: int
    n_tried: int | None = None


class AnalysisClaim(BaseModel):
    step_id: str
    sigma_pb: float | None
    sigma_err_pb: float | None
    fiducial_sigma_pb: float | None
    fiducial_sigma_err_pb: float | None
    n_read: int
    n_generated: int
    n_selected: int
    cutflow: list[analyze.CutflowRow] = Field(default_factory=list)
    histograms: list[HistogramClaim]


class SampleClaim(BaseModel):
    """One sample of a workflow with several: what it is and its numbers, from its analysis."""

    name: str
    role: str
    label: str
    analysis_step: str
    sigma_pb: float | None
    sigma_err_pb: float | None
    n_generated: int
    n_selected: int
    fiducial_sigma_pb: float | None


class SamplePlotClaim(BaseModel):
    """A plot of the samples together, with each one's drawn in-range sum counted from its JSON file."""

    name: str
    png_path: str
    json_path: str
    style: str
    normalisation: str
    in_range: dict[str, float]
    backgrounds: float | None


class Claims(BaseModel):
    """Every number of a run's results section."""

    generations: list[GenerationClaim]
    analyses: list[AnalysisClaim]
    samples: list[SampleClaim] = Field(default_factory=list)
    sample_plots: list[SamplePlotClaim] = Field(default_factory=list)


def build_claims(run_dir: Path, plan: Plan, results: dict[str, StepResult]) -> Claims:
    """The record from the step results and the histogram JSON files; an unreadable file is a ``ValueError``."""
    generations = [
        GenerationClaim(
            step_id=step.id,
            sigma_pb=getattr(result, "sigma_pb", None),
            sigma_err_pb=getattr(result, "sigma_err_pb", None),
            n_events=getattr(result, "n_events", 0),
            n_tried=getattr(result, "n_tried", None) or None,
        )
        for step, result in typed_results(plan, results, ToolResult)
        if not isinstance(result, analyze.Result) and isinstance(getattr(result, "n_events", None), int)
    ]
    analyses = [
        AnalysisClaim(
            step_id=step.id,
            sigma_pb=analysis.sigma_pb,
            sigma_err_pb=analysis.sigma_err_pb,
            fiducial_sigma_pb=analysis.fiducial_sigma_pb,
            fiducial_sigma_err_pb=analysis.fiducial_sigma_err_pb,
            n_read=analysis.n_events,
            n_generated=analysis.n_generated,
            n_selected=analysis.n_selected,
            cutflow=analysis.cutflow,
            histograms=[histogram_claim(run_dir, record) for record in analysis.histograms],
        )
        for step, analysis in typed_results(plan, results, analyze.Result)
    ]
    samples, plots = _sample_claims(run_dir, plan, results)
    return Claims(generations=generations, analyses=analyses, samples=samples, sample_plots=plots)


def _sample_claims(
    run_dir: Path, plan: Plan, results: dict[str, StepResult]
) -> tuple[list[SampleClaim], list[SamplePlotClaim]]:
    samples, plots = [], []
    for step, request in plan.steps_of(plot_samples.Request):
        for sample in request.samples:
            analysis_step = Path(sample.analysis_result_path).parent.name
            analysis = results.get(analysis_step)
            if not isinstance(analysis, analyze.Result):
                continue
            samples.append(
                SampleClaim(
                    **sample.model_dump(include={"name", "role", "label"}),
                    analysis_step=analysis_step,
                    sigma_pb=analysis.sigma_pb,
                    sigma_err_pb=analysis.sigma_err_pb,
                    n_generated=analysis.n_generated,
                    n_selected=analysis.n_selected,
                    fiducial_sigma_pb=analysis.fiducial_sigma_pb,
                )
            )
        result = results.get(step.id)
        records = result.plots if isinstance(result, plot_samples.Result) else []
        plots += [_sample_plot_claim(run_dir, record) for record in records]
    return samples, plots


def _sample_plot_claim(run_dir: Path, record: plot_samples.SamplePlotRecord) -> SamplePlotClaim:
    """In-range sums counted from the plot's JSON file (not from the record)."""
    try:
        content = json.loads(read_text(run_dir, record.json_path))
        drawn = {name: hist_from_json(json.dumps(item), name) for name, item in content["samples"].items()}
        stack = content["backgrounds"]
        backgrounds = None if stack is None else hist_from_json(json.dumps(stack), "backgrounds")
    except (OSError, KeyError, TypeError, AttributeError) as exc:
        msg = f"{record.json_path} cannot be read as the samples' histograms ({exc})"
        raise ValueError(msg) from None
    return SamplePlotClaim(
        **record.model_dump(include={"name", "png_path", "json_path", "style", "normalisation"}),
        in_range={name: float(item.sum().value) for name, item in drawn.items()},
        backgrounds=None if backgrounds is None else float(backgrounds.sum().value),
    )


def histogram_claim(run_dir: Path, record: analyze.HistogramRecord) -> HistogramClaim:
    """In-range entries, under- and overflow and the peak, counted from the histogram's JSON file."""
    return HistogramClaim(
        name=record.name,
        observable=record.observable,
        json_path=record.json_path,
        png_path=record.png_path,
        bins=record.bins,
        range=record.range,
        **histogram_numbers(load_run_hist(run_dir, record.json_path)),
    )


def histogram_numbers(histogram: Any) -> dict[str, Any]:
    """``in_range``, ``underflow``, ``overflow`` and ``peak`` of a one-axis ``hist.Hist`` with flow bins."""
    import numpy as np  # noqa: PLC0415 - heavy, only needed here

    if histogram.ndim != 1:
        msg = f"{histogram.name or 'histogram'} has {histogram.ndim} axes; a one-axis histogram was expected"
        raise ValueError(msg)
    flow = np.asarray(histogram.values(flow=True), dtype=np.float64)
    values = np.asarray(histogram.values(), dtype=np.float64)
    if len(flow) != len(values) + 2:
        msg = f"{histogram.name or 'histogram'} has no under- and overflow bins"
        raise ValueError(msg)
    peak = float(histogram.axes[0].centers[np.argmax(values)]) if np.any(values) else None
    return {"in_range": float(values.sum()), "underflow": float(flow[0]), "overflow": float(flow[-1]), "peak": peak}


def render_claims(claims: Claims) -> str:
    """The results section of report.md, numbers and all."""
    from madagents.reproduce import render_template  # noqa: PLC0415 - reproduce imports the gates that import this

    return render_template("claims.md.j2", claims=claims, entries=_entries)


def _entries(value: float) -> str:
    """A sum of weights: an integer as such (unit weights), otherwise six significant digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"
