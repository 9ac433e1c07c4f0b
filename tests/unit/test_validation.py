"""Each physics gate passes on good artifacts and fails, with the numbers, on a deliberately broken one."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from PIL import Image, PngImagePlugin

from madagents.agents.planner import plan_workflow
from madagents.claim_gates import gate_analysis_record, gate_report
from madagents.claims import build_claims, render_claims
from madagents.context import RunContext
from madagents.reproduce import start_early_reproduction, verify_reproduction
from madagents.rundir import RunDir
from madagents.sandbox import LocalSandbox
from madagents.settings import Settings
from madagents.state import GateResult, Plan, StepResult, Verdict
from madagents.validation import (
    gate_branching_fractions,
    gate_cross_section,
    gate_event_counts,
    gate_fiducial,
    gate_peaks,
    gate_plots,
    run_gates,
)
from madagents.workflow import load_workflow
from madagents_tools.analysis import analyze
from madagents_tools.contract import record_file
from madagents_tools.generation import pythia8_generate
from madagents_tools.generation.decays import DecayChannel, DecayTable
from madagents_tools.generation.mg5_output import slha_decay_tables
from tests.conftest import DRELL_YAN, REPO

N = 10


def _write_events(path: Path, n_events: int, muon_pt: float = 45.6) -> None:
    """Events with two back-to-back opposite-charge muons: m_μμ = 2 pT (at η = 0)."""
    muons = ak.zip(
        {
            "pt": [[muon_pt, muon_pt]] * n_events,
            "eta": [[0.0, 0.0]] * n_events,
            "phi": [[0.0, math.pi]] * n_events,
            "mass": [[0.10566, 0.10566]] * n_events,
            "charge": [[1.0, -1.0]] * n_events,
            "iso": [[0.0, 0.0]] * n_events,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path) as file:
        tree = file.mktree(
            "events",
            {"event_number": np.int64, "weight": np.float64, "muon": ak.type(muons).content, "met_pt": np.float64},
        )
        ones = np.ones(n_events)
        tree.extend({"event_number": np.arange(n_events), "weight": ones, "muon": muons, "met_pt": ones})


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Plan, pythia8_generate.Result, analyze.Result]:
    """A small run directory whose artifacts pass every gate."""
    monkeypatch.chdir(tmp_path)
    plan = plan_workflow(load_workflow(DRELL_YAN, events=N))
    _write_events(tmp_path / "events/events.root", N)
    hepmc = tmp_path / "events/events.hepmc3"
    hepmc.write_text(
        "HepMC::Version 3\nHepMC::Asciiv3-START_EVENT_LISTING\n"
        + "E 0 1 2\n" * N
        + "HepMC::Asciiv3-END_EVENT_LISTING\n"
    )
    generation = pythia8_generate.Result(
        ok=True,
        n_events=N,
        sigma_pb=1500.0,
        sigma_err_pb=20.0,
        files=[record_file("events/events.root", "root", N), record_file("events/events.hepmc3", "hepmc3", N)],
        decay_tables=[
            DecayTable(
                pdg_id=23,
                channels=[
                    DecayChannel(products=[13, -13], branching_ratio=0.034, on=True),
                    DecayChannel(products=[1, -1], branching_ratio=0.966, on=False),
                ],
            )
        ],
    )
    Path("steps/01-generate").mkdir(parents=True)
    Path("steps/01-generate/result.json").write_text(generation.model_dump_json())
    analysis = analyze.run(plan.step_request(analyze.Request))
    assert analysis.ok, analysis.error
    return tmp_path, plan, generation, analysis


def test_good_artifacts_pass_every_gate(run: tuple[Path, Plan, pythia8_generate.Result, analyze.Result]) -> None:
    run_dir, plan, generation, analysis = run
    gates = run_gates(run_dir, plan, _results(plan, generation, analysis))
    assert [gate.gate for gate in gates if not gate.passed] == []
    assert len(gates) == 6


def _results(plan: Plan, generation: pythia8_generate.Result, analysis: analyze.Result) -> dict[str, StepResult]:
    generate, analyse = plan.steps
    return {generate.id: generation, analyse.id: analysis}


def test_a_step_without_result_is_a_failed_gate(run: tuple) -> None:
    run_dir, plan, generation, _ = run
    gates = run_gates(run_dir, plan, {plan.steps[0].id: generation})
    assert [(gate.gate, gate.message) for gate in gates if not gate.passed] == [
        ("step 02-analyze", "the step has no result")
    ]


def test_event_count_differs_from_request(run: tuple) -> None:
    run_dir, plan, generation, _ = run
    _write_events(run_dir / "events/events.root", N - 1)
    gate = gate_event_counts(run_dir, plan.expectations.n_events, generation)
    assert not gate.passed
    assert "events/events.root holds 9 events, the run asked for 10" in gate.message


def test_truncated_root_file_is_a_failed_gate(run: tuple) -> None:
    run_dir, plan, generation, _ = run
    data = (run_dir / "events/events.root").read_bytes()
    (run_dir / "events/events.root").write_bytes(data[: len(data) // 2])
    gate = gate_event_counts(run_dir, plan.expectations.n_events, generation)
    assert not gate.passed
    assert "cannot be read as ROOT" in gate.message


def test_truncated_hepmc_file_is_a_failed_gate(run: tuple) -> None:
    run_dir, plan, generation, _ = run
    text = (run_dir / "events/events.hepmc3").read_text()
    (run_dir / "events/events.hepmc3").write_text(text.replace("HepMC::Asciiv3-END_EVENT_LISTING\n", ""))
    gate = gate_event_counts(run_dir, plan.expectations.n_events, generation)
    assert not gate.passed
    assert "events.hepmc3 has no HepMC3 end-of-listing line; it is truncated" in gate.message


@pytest.mark.parametrize(
    ("sigma", "error", "expected"),
    [
        (-5.0, 1.0, "both must be positive"),
        (float("nan"), 1.0, "is not finite"),
        (1500.0, 0.0, "both must be positive"),
    ],
)
def test_unphysical_cross_section(run: tuple, sigma: float, error: float, expected: str) -> None:
    _, _, generation, analysis = run
    gate = gate_cross_section(generation.model_copy(update={"sigma_pb": sigma, "sigma_err_pb": error}), analysis)
    assert not gate.passed
    assert expected in gate.message


def test_cross_section_in_plots_differs_from_generator(run: tuple) -> None:
    _, _, generation, analysis = run
    gate = gate_cross_section(generation, analysis.model_copy(update={"sigma_pb": 650.0}))
    assert not gate.passed
    assert "plots show σ = 650.0" in gate.message


def test_branching_fractions_not_summing_to_one(run: tuple) -> None:
    _, _, generation, _ = run
    table = generation.decay_tables[0]
    broken = table.model_copy(update={"channels": table.channels[:1]})
    gate = gate_branching_fractions([broken])
    assert not gate.passed
    assert "BRs do not sum to 1: PDG 23: 0.034000" in gate.message


def test_branching_fractions_of_an_mg5_param_card() -> None:
    card = """
BLOCK MASS #
      9000010 1.000000e+03 # ms1
DECAY 9000010 1.954000e+00 # ws1
#  BR             NDA  ID1    ID2   ...
   7.000000e-01   2    2  13 # u mu-
   2.000000e-01   2    4  13 # c mu-
DECAY 6 1.476400e+00 # wt
"""
    tables = slha_decay_tables(card)
    assert [(table.pdg_id, [channel.products for channel in table.channels]) for table in tables] == [
        (9000010, [[2, 13], [4, 13]])
    ]
    gate = gate_branching_fractions(tables, " (01-mg5)")
    assert (gate.gate, gate.passed) == ("branching fractions (01-mg5)", False)
    assert "PDG 9000010: 0.900000" in gate.message
    assert gate_branching_fractions(slha_decay_tables(card.replace("2.000000e-01", "3.000000e-01"))).passed
    assert "no decay channels" in gate_branching_fractions(slha_decay_tables("DECAY 6 1.4764\n")).message


def test_fiducial_cross_section_above_sigma_times_br(run: tuple) -> None:
    _, plan, _, analysis = run
    expectations = plan.expectations.model_copy(update={"channel_branching_fraction": 0.0114})
    gate = gate_fiducial(plan.model_copy(update={"expectations": expectations}), analysis)
    assert not gate.passed
    assert "σ × BR = 17.1 pb" in gate.message


def test_peak_away_from_the_generated_mass(run: tuple) -> None:
    run_dir, plan, _, _ = run
    _write_events(run_dir / "events/events.root", N, muon_pt=40.0)  # m = 80 GeV
    analysis = analyze.run(plan.step_request(analyze.Request))
    (gate,) = gate_peaks(plan, analysis)
    assert not gate.passed
    assert "m_mumu peaks at 80.50 GeV; m(Z0) = 91.19 GeV" in gate.message


def test_plot_legend_disagrees_with_data(run: tuple) -> None:
    run_dir, plan, _, analysis = run
    png = run_dir / analysis.histograms[0].png_path
    with Image.open(png) as image:
        shown = json.loads(image.text["Description"])
        shown["legend"] = shown["legend"].replace("N = 10", "N = 12")
        info = PngImagePlugin.PngInfo()
        info.add_text("Description", json.dumps(shown))
        image.save(png, pnginfo=info)
    (gate,) = gate_plots(run_dir, plan.step_request(analyze.Request), analysis)
    assert not gate.passed
    assert "PNG legend" in gate.message


def test_plot_binning_disagrees_with_plan(run: tuple) -> None:
    run_dir, plan, _, analysis = run
    request = plan.step_request(analyze.Request)
    spec = request.analysis.histograms[0].model_copy(update={"bins": 30})
    rebinned = request.model_copy(update={"analysis": request.analysis.model_copy(update={"histograms": [spec]})})
    analyze.run(rebinned)
    (gate,) = gate_plots(run_dir, plan.step_request(analyze.Request), analysis)
    assert not gate.passed
    assert "JSON has 30 bins in [60.0, 120.0], plan 60" in gate.message


def _context(run_dir: Path) -> RunContext:
    return RunContext(Settings(verify_events=N), RunDir(run_dir), LocalSandbox(run_dir), ["test"])


def test_reproduce_script_that_fails(run: tuple) -> None:
    run_dir, plan, generation, analysis = run
    (run_dir / "reproduce.sh").write_text("echo 'step 01 failed: no pythia' >&2\nexit 3\n")
    gate = verify_reproduction(_context(run_dir), plan, _results(plan, generation, analysis))
    assert not gate.passed
    assert "reproduce.sh failed (exit code 3): step 01 failed: no pythia" in gate.message


def test_reproduce_script_with_different_histograms(run: tuple) -> None:
    run_dir, plan, generation, analysis = run
    other = run_dir / "other"
    _write_events(other / "events/events.root", N, muon_pt=40.0)
    (other / "steps/01-generate").mkdir(parents=True)
    (other / "steps/01-generate/result.json").write_text((run_dir / "steps/01-generate/result.json").read_text())
    (other / "request.json").write_text(plan.step_request(analyze.Request).model_dump_json())
    (run_dir / "reproduce.sh").write_text(
        f'mkdir -p "$1" && cp -r {other}/* "$1"/ && cd "$1" && "$PYTHON" -m madagents_tools.analysis.analyze '
        "request.json result.json\n"
    )
    gate = verify_reproduction(_context(run_dir), plan, _results(plan, generation, analysis))
    assert not gate.passed
    assert "m_mumu: 2 bins differ" in gate.message


def test_reproduce_script_that_matches(run: tuple) -> None:
    run_dir, plan, generation, analysis = run
    (run_dir / "reproduce.sh").write_text(
        'mkdir -p "$1/hists" && cp hists/*.json "$1/hists/" && cp -r steps events "$1/"\n'
    )
    gate = verify_reproduction(_context(run_dir), plan, _results(plan, generation, analysis))
    assert gate.passed, gate.message
    assert "identical histograms and events from all 10 events" in gate.message


def _regenerating(run_dir: Path, muon_pt: float) -> None:
    """A reproduce.sh that 'regenerates' the first half of the events (muons of ``muon_pt``) with the run's σ."""
    other = run_dir / f"regenerated-{muon_pt}"
    _write_events(other / "events/events.root", N // 2, muon_pt=muon_pt)
    shutil.copytree(run_dir / "steps", other / "steps")
    (run_dir / "reproduce.sh").write_text(f'echo ran >> runs.txt && mkdir -p "$1" && cp -r {other}/* "$1"/\n')


def _prefix_context(run_dir: Path) -> RunContext:
    return RunContext(Settings(verify_events=N // 2), RunDir(run_dir), LocalSandbox(run_dir), ["test"])


def test_a_prefix_check_compares_the_regenerated_events_with_the_runs_first_ones(run: tuple) -> None:
    run_dir, plan, generation, analysis = run
    _regenerating(run_dir, muon_pt=45.6)  # the run's own events
    gate = verify_reproduction(_prefix_context(run_dir), plan, _results(plan, generation, analysis))
    assert gate.passed, gate.message
    assert f"the first {N // 2} of {N} events identical in every branch" in gate.message


def test_a_prefix_check_names_the_first_event_that_differs(run: tuple) -> None:
    run_dir, plan, generation, analysis = run
    _regenerating(run_dir, muon_pt=45.7)  # the same bins of m_mumu (1 GeV), other events
    gate = verify_reproduction(_prefix_context(run_dir), plan, _results(plan, generation, analysis))
    assert not gate.passed
    assert "step 01-generate: event 0 of events.root differs from the regenerated one in branch muon_pt" in (
        gate.message
    )


def _wait_for_lines(path: Path, n: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(path.read_text().splitlines()) < n:
        assert time.monotonic() < deadline, f"{path.name} has not {n} lines after {timeout_s} s"
        time.sleep(0.05)


def test_an_early_reproduction_is_used_only_for_the_script_it_ran(run: tuple) -> None:
    run_dir, plan, generation, analysis = run
    _regenerating(run_dir, muon_pt=45.6)
    ctx = _prefix_context(run_dir)
    start_early_reproduction(ctx, plan)
    assert verify_reproduction(ctx, plan, _results(plan, generation, analysis)).passed
    assert (run_dir / "runs.txt").read_text() == "ran\n"  # once, early: the reviewer took its result
    start_early_reproduction(ctx, plan)
    _wait_for_lines(run_dir / "runs.txt", 2)  # bash has parsed the one-line script: rewriting it now changes nothing
    _regenerating(run_dir, muon_pt=45.7)  # reproduce.sh changed after the early start: run again, and fail
    assert not verify_reproduction(ctx, plan, _results(plan, generation, analysis)).passed
    assert (run_dir / "runs.txt").read_text() == "ran\n" * 3
    ctx.early_reproduction.close()


def test_event_count_differs_from_what_the_result_claims(run: tuple) -> None:
    run_dir, plan, generation, _ = run
    claimed = generation.model_copy(update={"n_events": 50_000})
    gate = gate_event_counts(run_dir, plan.expectations.n_events, claimed)
    assert not gate.passed
    assert "events/events.root holds 10 events, the step's result claims 50000" in gate.message


def test_event_file_path_outside_the_run_is_refused(run: tuple) -> None:
    run_dir, _, generation, _ = run
    record = generation.files[0].model_construct(path="/dev/zero", sha256="", kind="root", n_events=N)
    gate = gate_event_counts(run_dir, N, generation.model_copy(update={"files": [record]}))
    assert not gate.passed
    assert "'/dev/zero' must be relative to the run directory" in gate.message


def test_plot_drawn_from_other_data(run: tuple) -> None:
    run_dir, plan, _, analysis = run
    json_path = run_dir / analysis.histograms[0].json_path
    json_path.write_text(json_path.read_text() + " ")  # same histogram, other bytes: not the file the PNG drew
    (gate,) = gate_plots(run_dir, plan.step_request(analyze.Request), analysis)
    assert not gate.passed
    assert "hists/m_mumu.png does not draw hists/m_mumu.json" in gate.message


def test_plot_legend_without_the_generators_sigma(run: tuple) -> None:
    run_dir, plan, generation, analysis = run
    changed = generation.model_copy(update={"sigma_pb": 4500.0})
    (gate,) = gate_plots(run_dir, plan.step_request(analyze.Request), analysis, "", changed)
    assert not gate.passed
    assert "does not show the generation's σ = 4500 ± 20 pb" in gate.message


def test_fiducial_sigma_that_is_not_sigma_times_the_efficiency(run: tuple) -> None:
    _, plan, generation, analysis = run
    raised = analysis.model_copy(update={"fiducial_sigma_pb": 250.0})
    request = plan.step_request(analyze.Request)
    gate = gate_analysis_record(_results(plan, generation, raised), request, raised)
    assert not gate.passed
    assert "σ_fid = 250 ± " in gate.message
    assert gate_analysis_record(_results(plan, generation, analysis), request, analysis).passed


def test_report_numbers_come_from_the_record(run: tuple) -> None:
    run_dir, plan, generation, analysis = run
    results = _results(plan, generation, analysis)
    block = render_claims(build_claims(run_dir, plan, results))
    (run_dir / "report.md").write_text(f"# run\n\n{block}\n## Physics gates\n")
    assert gate_report(run_dir, plan, results).passed
    (run_dir / "report.md").write_text(f"# run\n\n{block.replace('1500 ± 20 pb', '4500 ± 20 pb')}\n")
    gate = gate_report(run_dir, plan, results)
    assert not gate.passed
    assert "the record gives '| cross section σ (`01-generate`) | 1500 ± 20 pb |'" in gate.message


def test_a_peak_with_too_few_events_is_inconclusive_not_failed(run: tuple) -> None:
    run_dir, plan, _, _ = run
    _write_events(run_dir / "events/events.root", N, muon_pt=40.0)
    request = plan.step_request(analyze.Request).model_copy(update={"max_events": 5})
    analysis = analyze.run(request)
    (gate,) = gate_peaks(plan, analysis)
    assert gate.inconclusive
    assert gate.passed
    assert gate.message.startswith("inconclusive, 5 events in m_mumu")


def test_the_gate_tally_does_not_count_an_inconclusive_gate_as_passed() -> None:
    verdict = Verdict(
        signed_off=True,
        gates=[
            GateResult(gate="event count", passed=True, message="300 events"),
            GateResult(gate="peak m_mumu", passed=True, message="inconclusive, 4 events", inconclusive=True),
        ],
    )
    assert verdict.tally() == "1/2 passed, 1 inconclusive"
    assert [gate.mark for gate in verdict.gates] == ["✓", "?"]
    assert Verdict(signed_off=False, gates=verdict.gates[:1]).tally() == "1/1 passed"


def test_the_review_libraries_load_in_a_background_thread() -> None:
    code = (
        "import sys, threading; import madagents.runner; from madagents.validation import load_review_libraries; "
        "before = [name in sys.modules for name in ('uproot', 'hist')]; load_review_libraries(); "
        "[t.join() for t in threading.enumerate() if t.name == 'import-review-libraries']; "
        "print(before, [name in sys.modules for name in ('uproot', 'hist')])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout == "[False, False] [True, True]\n"
