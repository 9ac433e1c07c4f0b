"""The reviewer's check of a run against the paper a workflow names (``checks.reference``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from madagents.compare.histogram import Binned, from_weights
from madagents.compare.models import HistogramComparison
from madagents.compare.readers import load_sample
from madagents.compare.statistics import chi2_test, normalise
from madagents.compare.tolerances import Tolerance
from madagents.errors import UserInputError
from madagents.reference import ReferenceCheck, ReferenceExpectation, ReferenceHistogram
from madagents.state import GateResult
from madagents_tools.analysis import analyze
from madagents_tools.analysis.analysis_spec import HistogramSpec

__all__ = ["draw_reference_overlays", "gate_reference", "reference_expectation"]


def reference_expectation(check: ReferenceCheck, specs: list[HistogramSpec]) -> ReferenceExpectation:
    """The reference histograms for the workflow's histograms, with the same bins; bad input is a UserInputError."""
    path = Path(check.file)
    sample = load_sample(path)
    if not sample.histograms:
        msg = f"checks.reference: {path} holds no histogram"
        raise UserInputError(msg)
    histograms = []
    for spec in specs:
        wanted = check.histograms.get(spec.name, spec.name)
        if wanted not in sample.histograms and len(specs) == 1 == len(sample.histograms):
            wanted = next(iter(sample.histograms))
        if wanted not in sample.histograms:
            if spec.name in check.histograms:
                msg = f"checks.reference: {path} has no {wanted!r}; it has {', '.join(sorted(sample.histograms))}"
                raise UserInputError(msg)
            continue
        histograms.append(_matched(spec, sample.histograms[wanted], path, check))
    if not histograms:
        has = ", ".join(sorted(sample.histograms))
        msg = (
            f"checks.reference: no histogram of the workflow is in {path} (it has {has}); "
            "map them with histograms: {m_mumu: NAME_IN_FILE}"
        )
        raise UserInputError(msg)
    return ReferenceExpectation(
        file=check.file,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        mode=check.mode,
        min_p_value=check.min_p_value,
        histograms=histograms,
    )


def _matched(spec: HistogramSpec, reference: Binned, path: Path, check: ReferenceCheck) -> ReferenceHistogram:
    edges = np.linspace(*spec.range, spec.bins + 1)
    if len(edges) != len(reference.edges) or not np.allclose(edges, reference.edges, rtol=1e-6):
        msg = (
            f"checks.reference: histogram {spec.name} has {spec.bins} bins over {list(spec.range)} but "
            f"{reference.name} in {path} has {len(reference.edges) - 1} over [{reference.edges[0]:g}, "
            f"{reference.edges[-1]:g}]; give the histogram the paper's bins"
        )
        raise UserInputError(msg)
    if check.mode == "absolute" and reference.units is None:
        msg = f"checks.reference: {reference.name} in {path} states no cross-section unit; use mode: shape"
        raise UserInputError(msg)
    return ReferenceHistogram(
        histogram=spec.name,
        reference_name=reference.name,
        edges=edges.tolist(),
        values=reference.values.tolist(),
        err_down=reference.err_down.tolist(),
        err_up=reference.err_up.tolist(),
        units=reference.units,
    )


def gate_reference(
    run_dir: Path, reference: ReferenceExpectation, analysis: analyze.Result, label: str = ""
) -> list[GateResult]:
    """One gate per referenced histogram: χ²/ndf and p-value against the paper, agreeing when p ≥ min_p_value."""
    gates = []
    for expected in reference.histograms:
        gate = f"reference {expected.histogram}{label}"
        compared = _compare(run_dir, reference, expected, analysis)
        if isinstance(compared, str):
            gates.append(GateResult(gate=gate, passed=False, message=compared))
            continue
        result = compared[2]
        verdict = "agrees with" if result.compatible else "disagrees with"
        message = (
            f"{verdict} {expected.reference_name} of {reference.file} ({reference.mode}): "
            f"χ²/ndf = {result.chi2:.1f}/{result.ndf}, p = {result.p_value:.3g} (needs ≥ {reference.min_p_value:g})"
        )
        gates.append(GateResult(gate=gate, passed=result.compatible, message=message))
    return gates


def draw_reference_overlays(run_dir: Path, reference: ReferenceExpectation, analysis: analyze.Result) -> list[str]:
    """``reference/NAME.png`` in the run: the run over the paper with the ratio panel; returns the paths written."""
    from madagents.compare.gallery import plot_overlay  # noqa: PLC0415 - matplotlib

    written = []
    for expected in reference.histograms:
        compared = _compare(run_dir, reference, expected, analysis)
        if isinstance(compared, str):
            continue
        relative = f"reference/{expected.histogram}.png"
        (run_dir / "reference").mkdir(exist_ok=True)
        labels = ("this run", f"{expected.reference_name} ({Path(reference.file).name})")
        plot_overlay(*compared, labels, run_dir / relative)
        written.append(relative)
    return written


def _compare(
    run_dir: Path, reference: ReferenceExpectation, expected: ReferenceHistogram, analysis: analyze.Result
) -> tuple[Binned, Binned, HistogramComparison] | str:
    """The run and the paper as compared (normalised for the mode) and the χ² test; a string says why not."""
    from madagents.validation import load_hist  # noqa: PLC0415 - validation imports this module's callers

    record = next((record for record in analysis.histograms if record.name == expected.histogram), None)
    if record is None or not analysis.sigma_pb or not analysis.n_generated:
        return "the analysis wrote no such histogram or σ"
    histogram = load_hist(run_dir / record.json_path)
    sumw = np.asarray(histogram.values(), dtype=np.float64)
    variances = histogram.variances()
    sumw2 = sumw if variances is None else np.asarray(variances, dtype=np.float64)
    scale = analysis.sigma_pb / analysis.n_generated
    run = from_weights(expected.histogram, np.asarray(expected.edges), sumw, sumw2, scale, "pb")
    paper = _binned(expected)
    if reference.mode != "absolute" and not (run.integral() > 0 and paper.integral() > 0):
        return "an empty histogram has no shape to compare"
    run, paper = normalise(run, paper, reference.mode)
    return run, paper, chi2_test(run, paper, reference.mode, Tolerance(min_p_value=reference.min_p_value))


def _binned(expected: ReferenceHistogram) -> Binned:
    def array(values: list[float]) -> np.typing.NDArray[np.float64]:
        return np.asarray(values, dtype=np.float64)

    values, down, up = array(expected.values), array(expected.err_down), array(expected.err_up)
    return Binned(expected.reference_name, array(expected.edges), values, down, up, "data", None, expected.units)
