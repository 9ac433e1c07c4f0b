"""One record of the numbers a run states: σ, σ_fid, event counts, histogram entries and peaks.

``report.md`` renders its results section from this record. The reviewer builds the record again from the step
results and the histogram files, checks it against the events and histograms (:mod:`madagents.claim_gates`) and
requires report.md to show the re-rendered section verbatim, so a number edited anywhere alone cannot pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from madagents.run_reads import load_run_hist
from madagents.state import Plan, StepResult, typed_results
from madagents_tools.analysis import analyze
from madagents_tools.contract import ToolResult

__all__ = [
    "AnalysisClaim",
    "Claims",
    "GenerationClaim",
    "HistogramClaim",
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


class Claims(BaseModel):
    """Every number of a run's results section."""

    generations: list[GenerationClaim]
    analyses: list[AnalysisClaim]


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
    return Claims(generations=generations, analyses=analyses)


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
