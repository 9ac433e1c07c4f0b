"""Physics gates: checks a physicist would make at a glance, run by the reviewer on every run.

Each gate returns a :class:`GateResult` whose message carries the numbers involved, pass or fail. A file that
cannot be read is a failed gate, not an exception.
"""

from __future__ import annotations

import gzip
import importlib
import math
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from madagents.claim_gates import gate_analysis_record, gate_plots
from madagents.edge_gate import gate_edges
from madagents.run_reads import hist_from_json
from madagents.safe_files import resolve_inside
from madagents.sample_gates import gate_sample_plots
from madagents.state import GateResult, Plan, StepResult, typed_results
from madagents_tools.analysis import analyze
from madagents_tools.contract import FileRecord, ToolResult
from madagents_tools.generation import mg5_generate, pythia8_generate
from madagents_tools.generation.decays import DecayTable
from madagents_tools.ml import amplitude_surrogate, cfm_generator, classifier_test

__all__ = [
    "count_events",
    "gate_banner_cross_section",
    "gate_branching_fractions",
    "gate_classifier",
    "gate_cross_section",
    "gate_event_counts",
    "gate_fiducial",
    "gate_generated_fiducial",
    "gate_peaks",
    "gate_plots",
    "gate_surrogate",
    "load_hist",
    "load_review_libraries",
    "run_gates",
]

BR_TOLERANCE = 1e-3
MIN_PEAK_ENTRIES = 10
"""Below this many entries the highest bin is a fluctuation: the peak gate is inconclusive, not failed."""
HEPMC_FOOTER = "HepMC::Asciiv3-END_EVENT_LISTING"
LHE_FOOTER = "</LesHouchesEvents>"
PULL_STD_RANGE = (0.5, 1.5)
"""Spread of (prediction − truth)/σ_predicted that counts as calibrated uncertainties."""
GENERATED_PULL_MAX = 3.0
"""Standard deviations by which a generator's fiducial σ may differ from its training sample's."""
SIGMA_AGREEMENT = 1e-6
"""Relative agreement of σ between MG5's banner and Pythia8 showering its unweighted events (equal to 1e-15)."""


def run_gates(run_dir: Path, plan: Plan, results: dict[str, StepResult]) -> list[GateResult]:
    """Every gate on every step of the plan; a step without a result is a failed gate."""
    missing = [step.id for step in plan.steps if step.id not in results]
    gates = [GateResult(gate=f"step {step_id}", passed=False, message="the step has no result") for step_id in missing]
    producers = [step for step in plan.steps if any(record.n_events is not None for record in _files(results, step.id))]
    for step in producers:
        expected = getattr(step.request, "n_events", plan.expectations.n_events)
        gates.append(gate_event_counts(run_dir, expected, results[step.id], _label(step.id, len(producers) > 1)))
    tables = [(step.id, result.decay_tables) for step, result in typed_results(plan, results, mg5_generate.Result)]
    # a shower of MG5 events reports no tables of its own: MG5's param card holds the decays
    showered = typed_results(plan, results, pythia8_generate.Result)
    tables += [(step.id, result.decay_tables) for step, result in showered if result.decay_tables]
    gates += [gate_branching_fractions(decays, _label(step_id, len(tables) > 1)) for step_id, decays in tables]
    for step, shower in typed_results(plan, results, pythia8_generate.Result):
        hard = [results.get(need) for need in step.needs]
        gates += [gate_banner_cross_section(mg5, shower) for mg5 in hard if isinstance(mg5, mg5_generate.Result)]
    gates += [gate_classifier(step.id, test) for step, test in typed_results(plan, results, classifier_test.Result)]
    gates += _generated_vs_sample(plan, results)
    minimum = plan.expectations.surrogate_fraction_within_1pct_min
    for step, surrogate in typed_results(plan, results, amplitude_surrogate.Result):
        gates.append(gate_surrogate(step.id, surrogate, minimum or 0.0))
    analyses = typed_results(plan, results, analyze.Result)
    for step, analysis in analyses:
        request = step.request
        if not isinstance(request, analyze.Request):
            continue
        label = _label(step.id, len(analyses) > 1)
        generation = results.get(_producer(request.generation_result_path))
        gates += [
            gate_cross_section(generation, analysis, label),
            _with(gate_fiducial(plan, analysis, label), gate_analysis_record(results, request, analysis, label)),
            *gate_peaks(plan, analysis, label, step.id),
            *gate_edges(run_dir, plan, analysis, label, step.id),
            *_reference_gates(run_dir, plan, analysis, label),
            *gate_plots(run_dir, request, analysis, label, generation),
        ]
    return [*gates, *gate_sample_plots(run_dir, plan, results)]


def _reference_gates(run_dir: Path, plan: Plan, analysis: analyze.Result, label: str) -> list[GateResult]:
    if plan.expectations.reference is None:
        return []
    from madagents.compare.reference_gate import gate_reference  # noqa: PLC0415 - scipy loads only when needed

    return gate_reference(run_dir, plan.expectations.reference, analysis, label)


def _with(gate: GateResult, record: GateResult) -> GateResult:
    """``gate``, failed with the record's problems too; a passing record adds nothing to its message."""
    if record.passed:
        return gate
    return GateResult(gate=gate.gate, passed=False, message=f"{gate.message}; {record.message}")


def _files(results: dict[str, StepResult], step_id: str) -> list[FileRecord]:
    result = results.get(step_id)
    return result.files if result is not None else []


def _producer(result_path: str) -> str:
    """The step id of ``steps/<id>/result.json``."""
    return Path(result_path).parent.name


def _label(step_id: str, several: bool) -> str:
    """Gate names carry the step only when the plan has several steps of a kind."""
    return f" ({step_id})" if several else ""


COUNT_STEP_EVENTS = 10_000
"""Events ``count_events`` decompresses at a time."""


REVIEW_LIBRARIES = ("uproot", "hist")
"""What the gates read event files and histograms with: 0.5 s of imports."""


def load_review_libraries() -> None:
    """Import the gates' libraries in a background thread, while a tool generates the sample and the host idles."""
    missing = [name for name in REVIEW_LIBRARIES if name not in sys.modules]
    if missing:
        threading.Thread(target=_import_all, args=(missing,), name="import-review-libraries", daemon=True).start()


def _import_all(names: list[str]) -> None:
    for name in names:
        importlib.import_module(name)


def count_events(path: Path, kind: str) -> int:
    """Events in a ROOT (TTree 'events' or 'Delphes'), LHE or HepMC3 file; raises ``ValueError`` if unreadable."""
    if kind == "root":
        import uproot  # noqa: PLC0415 - heavy, only needed here

        try:
            with uproot.open(path, array_cache=None) as file:
                tree = file["Delphes" if "Delphes" in file else "events"]
                # Reading every branch decompresses every basket, so a truncated file fails here; in steps, so
                # that the check's memory does not grow with the sample.
                return sum(len(batch) for batch in tree.iterate(step_size=COUNT_STEP_EVENTS))
        except Exception as exc:
            msg = f"{path.name} cannot be read as ROOT ({type(exc).__name__}: {exc}); it is corrupt or truncated"
            raise ValueError(msg) from None
    if kind == "lhe":
        return _count_listed(
            path, lambda line: line.lstrip().startswith(("<event>", "<event ")), LHE_FOOTER, LHE_FOOTER
        )
    return _count_listed(path, lambda line: line.startswith("E "), HEPMC_FOOTER, "HepMC3 end-of-listing")


def _count_listed(path: Path, is_event: Callable[[str], bool], footer: str, name: str) -> int:
    """Events of a text event file (plain or gzipped) that must end with ``footer``; else it is truncated."""
    count, last = 0, ""
    with gzip.open(path, "rt", errors="replace") if path.suffix == ".gz" else path.open(errors="replace") as stream:
        for line in stream:
            count += is_event(line)
            last = line if line.strip() else last
    if last.strip() != footer:
        msg = f"{path.name} has no {name} line; it is truncated"
        raise ValueError(msg)
    return count


def gate_event_counts(run_dir: Path, expected: int, result: ToolResult, label: str = "") -> GateResult:
    """Events counted in each event file, against the plan and against what the step's result claims."""
    problems, seen = [], []
    claimed = getattr(result, "n_events", None)
    for record in result.files:
        if record.n_events is None:
            continue
        try:
            # resolve_inside: a path that is a link, a device (/dev/zero) or outside the run is refused, not read
            found = count_events(resolve_inside(run_dir, record.path), record.kind)
        except (OSError, ValueError) as exc:
            problems.append(str(exc))
            continue
        seen.append(f"{record.path}: {found}")
        if found != expected:
            problems.append(f"{record.path} holds {found} events, the run asked for {expected}")
        if found != record.n_events or (isinstance(claimed, int) and found != claimed):
            shown = record.n_events if found != record.n_events else claimed
            problems.append(f"{record.path} holds {found} events, the step's result claims {shown}")
    if not seen and not problems:
        problems.append("the step listed no event files")
    message = "; ".join(problems) or f"{', '.join(seen)} (asked for {expected})"
    return GateResult(gate=f"event count{label}", passed=not problems, message=message)


def gate_cross_section(generation: ToolResult | None, analysis: analyze.Result, label: str = "") -> GateResult:
    gate = f"cross section{label}"
    sigma, error = getattr(generation, "sigma_pb", None), getattr(generation, "sigma_err_pb", None)
    if sigma is None or error is None or not (math.isfinite(sigma) and math.isfinite(error)):
        return GateResult(gate=gate, passed=False, message=f"σ = {sigma} ± {error} pb is not finite")
    if sigma <= 0 or error <= 0:
        return GateResult(gate=gate, passed=False, message=f"σ = {sigma} ± {error} pb: both must be positive")
    if analysis.sigma_pb != sigma or analysis.sigma_err_pb != error:
        message = f"plots show σ = {analysis.sigma_pb} ± {analysis.sigma_err_pb} pb, the generator {sigma} ± {error}"
        return GateResult(gate=gate, passed=False, message=message)
    return GateResult(gate=gate, passed=True, message=f"σ = {sigma:.5g} ± {error:.2g} pb, same in plots")


def gate_banner_cross_section(mg5: mg5_generate.Result, shower: pythia8_generate.Result) -> GateResult:
    """The σ Pythia8 reports for showered LHE events is the σ of MG5's banner: a mismatch means mixed-up files."""
    banner, shown = mg5.sigma_pb, shower.sigma_pb
    message = f"MG5 banner σ = {banner} pb, Pythia8 on its LHE events σ = {shown} pb"
    agree = banner is not None and shown is not None and math.isclose(banner, shown, rel_tol=SIGMA_AGREEMENT)
    return GateResult(gate="cross section vs banner", passed=agree, message=message)


def gate_classifier(step_id: str, test: classifier_test.Result) -> GateResult:
    """Generated events pass only if a classifier cannot tell them from the sample they were learnt from."""
    return GateResult(gate=f"classifier test ({step_id})", passed=test.compatible is True, message=test.message)


def _generated_vs_sample(plan: Plan, results: dict[str, StepResult]) -> list[GateResult]:
    """Each analysis of generated events against the analysis of the sample the generator learnt from."""
    by_events = {
        step.request.events_path: result
        for step, result in typed_results(plan, results, analyze.Result)
        if isinstance(step.request, analyze.Request)
    }
    gates = []
    for step, learn in plan.steps_of(cfm_generator.Request):
        sample, generated = by_events.get(learn.events_path), by_events.get(learn.output_path)
        if sample is not None and generated is not None:
            gates.append(gate_generated_fiducial(step.id, sample, generated))
    return gates


def gate_generated_fiducial(step_id: str, sample: analyze.Result, generated: analyze.Result) -> GateResult:
    """The fiducial σ of generated events agrees with the sample's within their statistical errors."""
    gate = f"fiducial σ of generated events ({step_id})"
    a, da, b, db = (
        sample.fiducial_sigma_pb,
        sample.fiducial_sigma_err_pb,
        generated.fiducial_sigma_pb,
        generated.fiducial_sigma_err_pb,
    )
    if a is None or da is None or b is None or db is None:
        return GateResult(gate=gate, passed=False, message="a fiducial σ is missing")
    error = math.hypot(da, db)
    pull = abs(a - b) / error if error > 0 else math.inf
    message = f"sample {a:.5g} ± {da:.2g} pb, generated {b:.5g} ± {db:.2g} pb: {pull:.1f} σ apart (allowed 3)"
    return GateResult(gate=gate, passed=pull <= GENERATED_PULL_MAX, message=message)


def gate_surrogate(step_id: str, surrogate: amplitude_surrogate.Result, minimum: float) -> GateResult:
    """Accuracy on held-out points, and predicted uncertainties that are neither too small nor too large."""
    gate = f"surrogate accuracy ({step_id})"
    metrics = surrogate.metrics
    if metrics is None:
        return GateResult(gate=gate, passed=False, message="the surrogate reported no metrics")
    calibrated = PULL_STD_RANGE[0] <= metrics.pull_std <= PULL_STD_RANGE[1]
    message = (
        f"{metrics.fraction_within_1pct:.1%} of {metrics.n_test} held-out points within 1 % (required "
        f"{minimum:.0%}); median error {metrics.relative_error_quantiles.get('50', math.nan):.2%}; pulls "
        f"{metrics.pull_mean:+.2f} ± {metrics.pull_std:.2f} (calibrated: std in {list(PULL_STD_RANGE)})"
    )
    return GateResult(gate=gate, passed=metrics.fraction_within_1pct >= minimum and calibrated, message=message)


def gate_branching_fractions(tables: list[DecayTable], label: str = "") -> GateResult:
    """The decay tables a generator used (Pythia8's resonances, MG5's computed widths) each sum to 1."""
    gate = f"branching fractions{label}"
    sums = {table.pdg_id: sum(c.branching_ratio for c in table.channels) for table in tables}
    bad = {pdg: total for pdg, total in sums.items() if abs(total - 1.0) > BR_TOLERANCE}
    if bad:
        listed = ", ".join(f"PDG {pdg}: {total:.6f}" for pdg, total in bad.items())
        return GateResult(gate=gate, passed=False, message=f"BRs do not sum to 1: {listed}")
    if not sums:
        message = "the param card lists no decay channels (widths set, not computed by MG5): no sum to check"
        return GateResult(gate=gate, passed=True, message=message)
    listed = ", ".join(f"PDG {pdg}: {total:.6f}" for pdg, total in sums.items())
    return GateResult(gate=gate, passed=True, message=f"sum of BRs = 1 within 1e-3 ({listed})")


def gate_fiducial(plan: Plan, analysis: analyze.Result, label: str = "") -> GateResult:
    gate = f"fiducial cross section{label}"
    fiducial, total = analysis.fiducial_sigma_pb, analysis.sigma_pb
    if fiducial is None or total is None:
        return GateResult(gate=gate, passed=False, message="no fiducial σ was computed")
    limit = total * plan.expectations.channel_branching_fraction
    message = f"σ_fid = {fiducial:.5g} pb, σ × BR = {limit:.5g} pb"
    return GateResult(gate=gate, passed=0 <= fiducial <= limit * (1 + 1e-9), message=message)


def gate_peaks(plan: Plan, analysis: analyze.Result, label: str = "", step_id: str = "") -> list[GateResult]:
    records = {record.name: record for record in analysis.histograms}
    results = []
    for peak in plan.expectations.peaks:
        if peak.steps is not None and step_id not in peak.steps:
            continue  # another sample's resonance
        record = records.get(peak.histogram)
        if record is None or record.peak is None:
            message = f"histogram {peak.histogram} is missing or empty"
            results.append(GateResult(gate=f"peak {peak.histogram}{label}", passed=False, message=message))
            continue
        if record.entries < MIN_PEAK_ENTRIES:
            message = (
                f"inconclusive, {record.entries:g} events in {peak.histogram}: fewer than {MIN_PEAK_ENTRIES} cannot "
                f"locate the m({peak.particle}) = {peak.mass_gev:.4g} GeV peak; generate more events"
            )
            gate = GateResult(gate=f"peak {peak.histogram}{label}", passed=True, message=message, inconclusive=True)
            results.append(gate)
            continue
        bin_width = (record.range[1] - record.range[0]) / record.bins
        distance = abs(record.peak - peak.mass_gev)
        message = (
            f"{peak.histogram} peaks at {record.peak:.2f} GeV; m({peak.particle}) = {peak.mass_gev:.4g} GeV, "
            f"allowed distance one bin ({bin_width:.3g} GeV)"
        )
        results.append(GateResult(gate=f"peak {peak.histogram}{label}", passed=distance <= bin_width, message=message))
    return results


def load_hist(path: Path) -> Any:
    """A ``hist.Hist`` from a UHI JSON file the caller trusts (its own run's); see ``run_reads`` for others'."""
    return hist_from_json(path.read_text(), path.name)
