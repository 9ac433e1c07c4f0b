"""χ² of two histograms with both uncertainties, bin pulls and the agreement of two cross sections.

The rules for a bin (docs/compare.md says the same for users):

- A Monte Carlo side's variance is taken under the hypothesis that both sides estimate the same μ: var = k μ with k
  its variance per unit of value (σ/N × mean weight, ÷ width). Between two Monte Carlo samples μ is the pooled
  Poisson estimate, so (n₁ − n₂)²/(n₁ + n₂) for equal weights: no bias from low counts and an empty bin still has
  an uncertainty. Against published data μ is the larger of the two values (never less than the sample's own).
- A published side contributes its error on the side facing the other value (upper if the other lies above).
- A bin where both values are zero, or a value is missing (NaN), is skipped and not counted in ndf.
- A bin whose combined uncertainty is zero counts only if the values differ: then its pull is infinite and the
  histogram incompatible (exact references such as zero-error tables must match exactly).
- Shape-only and normalised comparisons fix one normalisation: ndf is one less than the bins used.

Where both sides kept their unbinned values (runs and goldens: ``hists/NAME.values.npy``), the two-sample
Kolmogorov-Smirnov test of those values is reported next to χ² (every filled event's value, in or out of the axis
range). It is a shape test and takes no weights: it is skipped, with a note, when a side's events have unequal weights.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from madagents.compare.histogram import Binned, Floats
from madagents.compare.models import BinPull, CrossSectionComparison, HistogramComparison
from madagents.compare.tolerances import Tolerance
from madagents_tools.analysis.unbinned import MAX_VALUES, Unbinned

__all__ = ["Mode", "chi2_test", "compare_cross_sections", "ks_test", "normalise"]

Flags = npt.NDArray[np.bool_]
Mode = Literal["absolute", "shape", "normalised"]


def normalise(run: Binned, reference: Binned, mode: Mode) -> tuple[Binned, Binned]:
    """Both histograms as compared: unchanged, the run scaled to the reference's area, or both to unit area."""
    if mode == "absolute":
        return run, reference
    areas = (run.integral(), reference.integral())
    if mode == "shape":
        return run.scaled(areas[1] / areas[0]), reference
    return run.scaled(1 / areas[0]), reference.scaled(1 / areas[1])


def chi2_test(run: Binned, reference: Binned, mode: Mode, tolerance: Tolerance) -> HistogramComparison:
    """χ²/ndf, p-value and pulls of two histograms with the same binning (already normalised for ``mode``)."""
    variance = _variance(run, reference)
    used = ~(np.isnan(run.values) | np.isnan(reference.values))
    used &= ~((run.values == 0) & (reference.values == 0))
    used &= ~((variance == 0) & (run.values == reference.values))
    difference = run.values - reference.values
    with np.errstate(divide="ignore", invalid="ignore"):
        pulls = np.where(variance > 0, difference / np.sqrt(variance), np.sign(difference) * np.inf)
    chi2 = float(np.sum(pulls[used] ** 2))
    ndf = int(np.count_nonzero(used)) - (0 if mode == "absolute" else 1)
    p_value = float(stats.chi2.sf(chi2, ndf)) if ndf > 0 else 1.0
    bins = [
        BinPull(low=float(low), high=float(high), pull=float(pull) if use else None)
        for low, high, pull, use in zip(run.edges[:-1], run.edges[1:], pulls, used, strict=True)
    ]
    worst = max((b for b in bins if b.pull is not None), key=lambda b: abs(b.pull or 0.0), default=None)
    reasons = []
    if p_value < tolerance.min_p_value:
        reasons.append(f"p = {p_value:.3g} < {tolerance.min_p_value:g}")
    if worst is not None and tolerance.max_abs_pull is not None and abs(worst.pull or 0.0) > tolerance.max_abs_pull:
        reasons.append(
            f"|pull| = {abs(worst.pull or 0.0):.3g} > {tolerance.max_abs_pull:g} in [{worst.low:g}, {worst.high:g})"
        )
    notes = [] if ndf > 0 else ["no degree of freedom: nothing to test (all bins empty on both sides?)"]
    return HistogramComparison(
        name=run.name,
        reference_name=reference.name,
        mode=mode,
        chi2=chi2,
        ndf=ndf,
        p_value=p_value,
        max_pull=worst,
        bins=bins,
        skipped=tolerance.skip,
        compatible=tolerance.skip or not reasons,
        reasons=reasons,
        notes=notes,
    )


def ks_test(
    comparison: HistogramComparison, run: Unbinned | None, reference: Unbinned | None, tolerance: Tolerance
) -> HistogramComparison:
    """``comparison`` with the KS test of the two sides' unbinned values added, or a note why there is none."""
    if run is None and reference is None:  # a published table, or runs older than the values files: nothing to say
        return comparison
    note = None
    if run is None or reference is None:
        note = f"no KS test: only the {'reference' if run is None else 'run'} kept unbinned values"
    elif not (run.uniform_weights and reference.uniform_weights):
        note = "no KS test: the events have unequal weights, and the two-sample KS test takes none"
    elif len(run.values) == 0 or len(reference.values) == 0:
        note = "no KS test: a side has no events"
    if note is not None or run is None or reference is None:
        return comparison.model_copy(update={"notes": [*comparison.notes, note]})
    tested = stats.ks_2samp(run.values, reference.values)
    statistic, p_value = float(tested.statistic), float(tested.pvalue)
    notes = list(comparison.notes)
    if MAX_VALUES in (len(run.values), len(reference.values)):
        notes.append(f"KS on the first {MAX_VALUES} events of a side (all its values files keep)")
    reasons = list(comparison.reasons)
    if tolerance.min_ks_p_value is not None and p_value < tolerance.min_ks_p_value:
        reasons.append(f"KS p = {p_value:.3g} < {tolerance.min_ks_p_value:g}")
    return comparison.model_copy(
        update={
            "ks_statistic": statistic,
            "ks_p_value": p_value,
            "reasons": reasons,
            "notes": notes,
            "compatible": tolerance.skip or not reasons,
        }
    )


def _variance(run: Binned, reference: Binned) -> Floats:
    a, b = np.nan_to_num(run.values), np.nan_to_num(reference.values)
    if run.weight_scale is not None and reference.weight_scale is not None:
        ka, kb = run.weight_scale, reference.weight_scale
        pooled = (a / ka + b / kb) / (1 / ka + 1 / kb)
        return np.asarray((ka + kb) * pooled, dtype=np.float64)
    hypothesis = np.maximum(np.maximum(a, b), 0.0)
    run_above: Flags = a > b
    ours = _side_variance(run, run_above, hypothesis, is_run=True)
    theirs = _side_variance(reference, run_above, hypothesis, is_run=False)
    return np.asarray(ours + theirs, dtype=np.float64)


def _side_variance(side: Binned, run_above: Flags, hypothesis: Floats, *, is_run: bool) -> Floats:
    """One side's variance: Poisson under the hypothesis for Monte Carlo, else its error facing the other value."""
    if side.weight_scale is not None:
        return np.asarray(side.weight_scale * hypothesis, dtype=np.float64)
    facing_down = run_above if is_run else ~run_above  # the run's lower error faces a reference below it
    errors = np.where(facing_down, side.err_down, side.err_up)
    return np.asarray(np.nan_to_num(errors) ** 2, dtype=np.float64)


def compare_cross_sections(
    quantity: Literal["sigma", "fiducial_sigma"],
    run: tuple[float, float],
    reference: tuple[float, float],
    tolerance: Tolerance,
) -> CrossSectionComparison:
    """Two cross sections agree when their difference is within the combined uncertainty (a two-sided p-value)."""
    combined = math.hypot(run[1], reference[1])
    difference = run[0] - reference[0]
    pull = difference / combined if combined > 0 else (0.0 if difference == 0 else math.copysign(math.inf, difference))
    p_value = float(2 * stats.norm.sf(abs(pull)))
    failed = p_value < tolerance.min_p_value or (
        tolerance.max_abs_pull is not None and abs(pull) > tolerance.max_abs_pull
    )
    return CrossSectionComparison(
        quantity=quantity,
        run_pb=run[0],
        run_err_pb=run[1],
        reference_pb=reference[0],
        reference_err_pb=reference[1],
        pull=pull,
        p_value=p_value,
        skipped=tolerance.skip,
        compatible=tolerance.skip or not failed,
    )
