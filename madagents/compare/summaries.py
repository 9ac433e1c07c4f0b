"""`replay --statistical`: a cassette's recorded run summaries against the replayed ones, within uncertainties."""

from __future__ import annotations

import numpy as np

from madagents.compare.histogram import Binned, from_weights
from madagents.compare.statistics import chi2_test, compare_cross_sections
from madagents.compare.tolerances import Tolerance
from madagents.llm.cassette import HistogramSummary, RunSummary

__all__ = ["statistical_differences"]

RECORD_AGAIN = "the cassette holds no contents to compare within uncertainties (re-record it), so they must be equal"


def statistical_differences(old: RunSummary, new: RunSummary) -> list[str]:
    """σ, σ_fid and histograms that are incompatible (χ² p-value, σ pull p-value below the default tolerance)."""
    differences = []
    tolerance = Tolerance()
    for quantity in ("sigma", "fiducial_sigma"):
        was, was_err = getattr(old, f"{quantity}_pb"), getattr(old, f"{quantity}_err_pb")
        now, now_err = getattr(new, f"{quantity}_pb"), getattr(new, f"{quantity}_err_pb")
        if was is None or now is None or was_err is None or now_err is None:
            if was != now and (quantity == "sigma" or was is not None):
                differences.append(f"{quantity} was {was!r}, now {now!r} ({RECORD_AGAIN})")
            continue
        result = compare_cross_sections(quantity, (now, now_err), (was, was_err), tolerance)
        if not result.compatible:
            differences.append(
                f"{quantity} was {was:.6g} ± {was_err:.3g} pb, now {now:.6g} ± {now_err:.3g} pb "
                f"({result.pull:+.2f} combined σ, p = {result.p_value:.3g})"
            )
    for name in sorted(set(old.histograms) | set(new.histograms)):
        was_hist, now_hist = old.histograms.get(name), new.histograms.get(name)
        if was_hist is None or now_hist is None:
            differences.append(f"histogram {name} {'is new' if was_hist is None else 'is missing'}")
            continue
        differences += _histogram_difference(name, (old, was_hist), (new, now_hist), tolerance)
    return differences


def _histogram_difference(
    name: str, old: tuple[RunSummary, HistogramSummary], new: tuple[RunSummary, HistogramSummary], tolerance: Tolerance
) -> list[str]:
    was, now = _binned(name, *old), _binned(name, *new)
    if was is None or now is None:
        same = old[1].exact_part() == new[1].exact_part()
        return [] if same else [f"histogram {name} differs ({RECORD_AGAIN})"]
    if len(was.edges) != len(now.edges) or not np.allclose(was.edges, now.edges):
        return [f"histogram {name}: its binning changed ({len(was.edges) - 1} → {len(now.edges) - 1} bins)"]
    result = chi2_test(now, was, "absolute", tolerance)
    if result.compatible:
        return []
    return [f"histogram {name} is incompatible: χ²/ndf = {result.chi2:.1f}/{result.ndf}, p = {result.p_value:.3g}"]


def _binned(name: str, summary: RunSummary, histogram: HistogramSummary) -> Binned | None:
    if histogram.edges is None or histogram.sumw is None or histogram.sumw2 is None:
        return None
    events = summary.n_events
    scale = summary.sigma_pb / events if summary.sigma_pb is not None and events else 1.0
    arrays = (np.asarray(numbers, dtype=np.float64) for numbers in (histogram.edges, histogram.sumw, histogram.sumw2))
    edges, sumw, sumw2 = arrays
    return from_weights(name, edges, sumw, sumw2, scale, None)
