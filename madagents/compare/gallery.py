"""Overlay plots with a ratio panel, one PNG per histogram, and an index.html gallery as rivet-mkhtml makes."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np

from madagents.compare.histogram import Binned
from madagents.compare.models import ComparisonResult, HistogramComparison

__all__ = ["plot_overlay", "write_gallery"]

RATIO_RANGE = (0.0, 2.0)
HEADROOM = 1.6
"""The y axis reaches 1.6 × the highest point, leaving the upper part to the legend."""


def write_gallery(result: ComparisonResult, pairs: list[tuple[Binned, Binned]], out_dir: Path) -> Path:
    """Write ``out_dir/index.html`` and a PNG per compared histogram; returns the index."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    for comparison, (run, reference) in zip(result.histograms, pairs, strict=True):
        png = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', comparison.name)}.png"
        labels = (
            f"run: {Path(result.run).name}",
            f"reference: {Path(result.reference).name} ({result.reference_kind})",
        )
        plot_overlay(run, reference, comparison, labels, out_dir / png)
        figures.append((comparison, png))
    index = out_dir / "index.html"
    index.write_text(_html(result, figures), encoding="utf-8")
    return index


def plot_overlay(
    run: Binned, reference: Binned, comparison: HistogramComparison, labels: tuple[str, str], path: Path
) -> None:
    """The run over the reference, χ²/ndf and p in the legend, and a run/reference ratio panel below."""
    import matplotlib as mpl  # noqa: PLC0415 - heavy; only the gallery needs it

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import mplhep  # noqa: PLC0415

    plt.style.use(mplhep.style.ROOT)
    figure, (top, bottom) = plt.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05}, figsize=(8, 7)
    )
    centres = 0.5 * (run.edges[1:] + run.edges[:-1])
    run_label, reference_label = labels
    if reference.kind == "data":
        top.errorbar(
            centres, reference.values, yerr=[reference.err_down, reference.err_up], fmt="ko", label=reference_label
        )
    else:
        mplhep.histplot(
            reference.values, run.edges, yerr=reference.err_up, ax=top, color="black", label=reference_label
        )
    mplhep.histplot(run.values, run.edges, yerr=run.err_up, ax=top, color="tab:red", label=run_label)
    top.set_ylabel(_ylabel(run, comparison.mode))
    highest = np.nanmax(np.concatenate([run.values + run.err_up, reference.values + reference.err_up]))
    if np.isfinite(highest) and highest > 0 and np.nanmin(np.concatenate([run.values, reference.values])) >= 0:
        top.set_ylim(0, HEADROOM * highest)
    top.legend(
        fontsize="small",
        title_fontsize="small",
        title=f"χ²/ndf = {comparison.chi2:.1f}/{comparison.ndf}, p = {comparison.p_value:.3g}",
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(reference.values != 0, run.values / reference.values, np.nan)
        ratio_err = np.where(reference.values != 0, run.err_up / np.abs(reference.values), np.nan)
        band = np.where(reference.values != 0, reference.err_up / np.abs(reference.values), np.nan)
    bottom.fill_between(
        run.edges,
        np.append(1 - band, 1 - band[-1]),
        np.append(1 + band, 1 + band[-1]),
        step="post",
        color="0.8",
        label="reference uncertainty",
    )
    bottom.errorbar(centres, ratio, yerr=ratio_err, fmt="o", color="tab:red", markersize=3)
    bottom.axhline(1.0, color="black", linewidth=0.8)
    bottom.set_ylim(*RATIO_RANGE)
    bottom.set_ylabel("run / ref.")
    bottom.set_xlabel(comparison.name)
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)


def _ylabel(run: Binned, mode: str) -> str:
    if mode == "normalised":
        return "1/σ dσ/dx"
    return f"dσ/dx [{run.units} / x unit]" if run.units else "dσ/dx"


def _html(result: ComparisonResult, figures: list[tuple[HistogramComparison, str]]) -> str:
    verdict = "compatible" if result.compatible else "incompatible"
    rows = "".join(
        f"<tr><td>{'✓' if s.compatible else '✗'}</td><td>{html.escape(s.quantity)}</td>"
        f"<td>{s.run_pb:.6g} ± {s.run_err_pb:.3g}</td><td>{s.reference_pb:.6g} ± {s.reference_err_pb:.3g}</td>"
        f"<td>{s.pull:+.2f}</td><td>{s.p_value:.3g}</td></tr>"
        for s in result.cross_sections
    )
    sigma_table = (
        f"<table><tr><th></th><th>quantity</th><th>run [pb]</th><th>reference [pb]</th><th>pull</th><th>p</th></tr>"
        f"{rows}</table>"
        if rows
        else ""
    )
    cards = "".join(
        f"<figure><a href='{png}'><img src='{png}' width='480'></a><figcaption>{'✓' if c.compatible else '✗'} "
        f"<b>{html.escape(c.name)}</b>: χ²/ndf = {c.chi2:.1f}/{c.ndf}, p = {c.p_value:.3g}"
        f"{f'; KS D = {c.ks_statistic:.3g}, p = {c.ks_p_value:.3g}' if c.ks_statistic is not None else ''}"
        f"{' — ' + html.escape('; '.join(c.reasons)) if c.reasons else ''}</figcaption></figure>"
        for c, png in figures
    )
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in result.notes)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>madagents compare</title>"
        "<style>body{font-family:sans-serif} figure{display:inline-block;margin:8px} td,th{padding:2px 8px}</style>"
        f"</head><body><h1>{html.escape(Path(result.run).name)} vs {html.escape(Path(result.reference).name)}: "
        f"{verdict}</h1><p>{html.escape(result.run)} against {html.escape(result.reference)} "
        f"({result.reference_kind}, {result.mode})</p>{sigma_table}<ul>{notes}</ul>{cards}</body></html>\n"
    )
