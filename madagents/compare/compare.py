"""``compare_runs``: a run against a run, a golden, a HEPData table or a YODA file; the typed API behind the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from madagents.compare.histogram import Binned
from madagents.compare.models import ComparisonResult, CrossSectionComparison, HistogramComparison
from madagents.compare.readers import load_sample
from madagents.compare.sample import Sample
from madagents.compare.statistics import Mode, chi2_test, compare_cross_sections, ks_test, normalise
from madagents.compare.tolerances import Tolerances, load_tolerances
from madagents.errors import UserInputError

__all__ = ["Compared", "compare_runs", "compare_samples"]


EDGES_SHOWN = 8
"""A binning error message lists at most this many edges."""


@dataclass(frozen=True, slots=True)
class Compared:
    """The result and the histogram pairs as compared (after normalisation), for plots."""

    result: ComparisonResult
    pairs: list[tuple[Binned, Binned]]


def compare_runs(
    run: Path, reference: Path, *, tolerances: Tolerances | Path | None = None, mode: Mode = "absolute"
) -> ComparisonResult:
    """Compare a run (or any readable sample) with a reference, histogram by histogram and σ by σ.

    Raises:
        UserInputError: unreadable input, a missing histogram, different binning, or units that cannot be compared.
    """
    return compare_samples(load_sample(run), load_sample(reference), tolerances=tolerances, mode=mode).result


def compare_samples(
    run: Sample, reference: Sample, *, tolerances: Tolerances | Path | None = None, mode: Mode = "absolute"
) -> Compared:
    limits = tolerances if isinstance(tolerances, Tolerances) else load_tolerances(tolerances)
    pairs, not_in_reference = _pairs(run, reference, limits)
    compared = [normalise(*_checked(a, b, mode, reference.path), mode) for a, b in pairs]
    histograms: list[HistogramComparison] = [
        ks_test(
            chi2_test(a, b, mode, limits.for_histogram(a.name)),
            run.unbinned.get(a.name),
            reference.unbinned.get(b.name),
            limits.for_histogram(a.name),
        )
        for a, b in compared
    ]
    cross_sections: list[CrossSectionComparison] = []
    for quantity, ours, theirs in (
        ("sigma", run.sigma, reference.sigma),
        ("fiducial_sigma", run.fiducial_sigma, reference.fiducial_sigma),
    ):
        if ours is not None and theirs is not None and mode == "absolute":
            limit = limits.for_sigma(quantity == "fiducial_sigma")
            cross_sections.append(
                compare_cross_sections(
                    quantity,  # type: ignore[arg-type]
                    (ours.value_pb, ours.error_pb),
                    (theirs.value_pb, theirs.error_pb),
                    limit,
                )
            )
    result = ComparisonResult(
        run=run.path,
        reference=reference.path,
        reference_kind=reference.source,
        mode=mode,
        histograms=histograms,
        cross_sections=cross_sections,
        not_in_reference=not_in_reference,
        notes=[*run.notes, *reference.notes],
    )
    return Compared(result, compared)


def _pairs(run: Sample, reference: Sample, limits: Tolerances) -> tuple[list[tuple[Binned, Binned]], list[str]]:
    """Each run histogram with its reference: by name (or the tolerances' ``reference``), or the only two there are."""
    complete = reference.source in ("run", "golden")  # a run's reference has every histogram; a paper's may not
    pairs, missing = [], []
    only_one = not complete and len(run.histograms) == 1 and len(reference.histograms) == 1
    for name, histogram in sorted(run.histograms.items()):
        wanted = limits.for_histogram(name).reference or name
        if wanted in reference.histograms:
            pairs.append((histogram, reference.histograms[wanted]))
        elif only_one and limits.for_histogram(name).reference is None:
            pairs.append((histogram, next(iter(reference.histograms.values()))))
        else:
            missing.append(name)
    available = ", ".join(sorted(reference.histograms))
    if complete and missing:
        msg = f"histogram {', '.join(missing)} of {run.path} is missing in {reference.path} (it has {available})"
        raise UserInputError(msg)
    extra = sorted(set(reference.histograms) - {b.name for _, b in pairs})
    if complete and extra:
        have = ", ".join(sorted(run.histograms))
        msg = f"histogram {', '.join(extra)} of {reference.path} is missing in {run.path} (it has {have})"
        raise UserInputError(msg)
    if not pairs:
        msg = (
            f"no histogram of {run.path} ({', '.join(sorted(run.histograms))}) is in {reference.path} ({available}); "
            "name each one's reference in a tolerances file: histograms: {NAME: {reference: REFERENCE_NAME}}"
        )
        raise UserInputError(msg)
    return pairs, missing


def _checked(run: Binned, reference: Binned, mode: Mode, where: str) -> tuple[Binned, Binned]:
    """The pair, if it can be compared: the same bins, and in absolute mode the same units."""
    same = len(run.edges) == len(reference.edges) and np.allclose(run.edges, reference.edges, rtol=1e-6, atol=1e-9)
    if not same:
        msg = (
            f"different binning: {run.name} has {len(run.edges) - 1} bins over [{run.edges[0]:g}, {run.edges[-1]:g}] "
            f"but {reference.name} in {where} has {len(reference.edges) - 1} over [{reference.edges[0]:g}, "
            f"{reference.edges[-1]:g}] (edges {_edge_text(reference)}); give the run's histogram the reference's bins"
        )
        raise UserInputError(msg)
    if mode == "absolute" and run.units != reference.units:
        msg = (
            f"{run.name} is in {run.units or 'unknown units'} but {reference.name} in {where} is in "
            f"{reference.units or 'unknown units'}: compare the shapes with --shape-only or --normalised"
        )
        raise UserInputError(msg)
    if mode != "absolute":
        for histogram in (run, reference):
            if not histogram.integral() > 0:
                msg = f"{histogram.name} has no positive area, so it cannot be normalised; compare it absolutely"
                raise UserInputError(msg)
    return run, reference


def _edge_text(histogram: Binned) -> str:
    edges = [f"{edge:g}" for edge in histogram.edges]
    return ", ".join(edges) if len(edges) <= EDGES_SHOWN else f"{', '.join(edges[:4])}, …, {', '.join(edges[-2:])}"
