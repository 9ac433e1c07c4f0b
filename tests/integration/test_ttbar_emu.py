"""The tt̄ → eμ workflow end to end: real Pythia8 with jets, the eμ selection, the reviewer's gates.

The selection is re-applied here to the ROOT file with plain awkward, independently of tools/analysis/analyze.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

from madagents.runner import start_run
from madagents.settings import Settings
from madagents.validation import load_hist
from madagents.workflow import load_workflow
from madagents_tools.analysis import analyze
from madagents_tools.generation import pythia8_generate
from tests.conftest import REPO

W_TO_LEPTON_BR = 0.1081
"""Pythia8 8.317's W → ℓν branching ratio, as the ttbar catalogue notes quote it (madagents/processes.yaml)."""

pytestmark = pytest.mark.slow

TTBAR_EMU = REPO / "workflows" / "ttbar_emu.yaml"
N_EVENTS = 400
SEED = 1723
HISTOGRAMS = ("m_emu", "pt_e", "pt_mu", "n_jets", "n_bjets")
PDG_EMU_BRANCHING = 0.0114
"""BR(W → eν) × BR(W → μν) with PDG values: σ_fid(eμ) ≤ σ(tt̄) × this (PHYSICS.md's sanity arithmetic)."""
PT_MIN_GEV, ABS_ETA_MAX, ISOLATION_MAX = 25.0, 2.5, 0.15


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ttbar") / "run"
    workflow = load_workflow(TTBAR_EMU, events=N_EVENTS, seed=SEED)
    start_run(workflow, out, Settings(verify_events=200, sandbox="local"), ["madagents", "run", "test"])
    return out


@pytest.fixture(scope="module")
def generation(run_dir: Path) -> pythia8_generate.Result:
    return pythia8_generate.Result.model_validate_json((run_dir / "steps/01-generate/result.json").read_text())


@pytest.fixture(scope="module")
def analysis(run_dir: Path) -> analyze.Result:
    return analyze.Result.model_validate_json((run_dir / "steps/02-analyze/result.json").read_text())


@pytest.fixture(scope="module")
def events(run_dir: Path) -> Any:
    with uproot.open(run_dir / "events/events.root") as file:
        return file["events"].arrays()


def test_run_succeeds_and_the_reviewer_signs_off_every_gate(run_dir: Path) -> None:
    assert json.loads((run_dir / "status.json").read_text())["state"] == "succeeded"
    report = (run_dir / "report.md").read_text()
    assert "signed off by the reviewer" in report
    assert "✗ FAIL" not in report
    gates = ["event count", "cross section", "branching fractions", "fiducial cross section", "reproduce.sh"]
    for gate in [*gates, *(f"plot {name}" for name in HISTOGRAMS)]:
        assert f"| {gate} | ✓ pass |" in report, gate


def test_every_histogram_is_written(run_dir: Path, analysis: analyze.Result) -> None:
    assert [record.name for record in analysis.histograms] == list(HISTOGRAMS)
    for name in HISTOGRAMS:
        assert (run_dir / f"hists/{name}.json").is_file(), name
        assert (run_dir / f"hists/{name}.png").is_file(), name
        assert load_hist(run_dir / f"hists/{name}.json").sum(flow=True).value == analysis.n_selected, name


def test_jets_were_clustered(events: Any) -> None:
    assert {"njet", "jet_pt", "jet_eta", "jet_phi", "jet_mass", "jet_btag"} <= set(events.fields)
    assert len(events) == N_EVENTS
    # tt̄ → bb̄ + leptons: nearly every event has two jets above the stored 20 GeV, and most a b-tagged one
    assert np.mean(np.asarray(events.njet) >= 2) > 0.8
    assert np.mean(np.asarray(ak.any(events.jet_btag != 0, axis=1))) > 0.8


def test_only_the_requested_w_channels_are_open(generation: pythia8_generate.Result) -> None:
    tables = {table.pdg_id: table for table in generation.decay_tables}
    open_channels = {pdg: [c for c in tables[pdg].channels if c.on] for pdg in (24, -24)}
    assert [c.products for c in open_channels[24]] == [[-11, 12]]  # W⁺ → e⁺ ν_e
    assert [c.products for c in open_channels[-24]] == [[13, -14]]  # W⁻ → μ⁻ ν̄_μ
    product = open_channels[24][0].branching_ratio * open_channels[-24][0].branching_ratio
    # the value the assumptions log quotes for converting σ back to σ(tt̄)
    assert product == pytest.approx(W_TO_LEPTON_BR**2, rel=2e-3)
    assert all(24 in channel.products for channel in tables[6].channels if channel.on)


def test_fiducial_cross_section_respects_the_branching_fraction_bound(
    generation: pythia8_generate.Result, analysis: analyze.Result
) -> None:
    assert generation.sigma_pb is not None
    assert analysis.fiducial_sigma_pb is not None
    sigma_ttbar = generation.sigma_pb / W_TO_LEPTON_BR**2
    # Pythia8 LO, 13 TeV, m_t = 172.5 GeV: measured 515 ± 3 pb (MG5 LO: 504 pb; NNLO: 830 pb)
    assert 450 < sigma_ttbar < 580
    assert 0 < analysis.fiducial_sigma_pb <= generation.sigma_pb
    assert analysis.fiducial_sigma_pb <= sigma_ttbar * PDG_EMU_BRANCHING
    # measured 33.5 % with 10k events
    assert 0.25 < analysis.fiducial_sigma_pb / generation.sigma_pb < 0.45


def test_every_selected_event_has_two_jets_and_a_b_jet(run_dir: Path, analysis: analyze.Result) -> None:
    n_bjets = load_hist(run_dir / "hists/n_bjets.json").values()
    n_jets = load_hist(run_dir / "hists/n_jets.json").values()
    assert n_bjets[0] == 0
    assert n_jets[0] == n_jets[1] == 0
    assert n_bjets.sum() == n_jets.sum() == analysis.n_selected


def _fiducial(events: Any) -> tuple[Any, Any, Any]:
    """Selected-event mask and the charges of the selected electron and muon, from the raw branches."""

    def leptons(name: str) -> Any:
        keep = (events[f"{name}_pt"] > PT_MIN_GEV) & (abs(events[f"{name}_eta"]) < ABS_ETA_MAX)
        return events[f"{name}_charge"][keep & (events[f"{name}_iso"] < ISOLATION_MAX)]

    electrons, muons = leptons("electron"), leptons("muon")
    jets = (events.jet_pt > PT_MIN_GEV) & (abs(events.jet_eta) < ABS_ETA_MAX)
    charge_e, charge_mu = ak.fill_none(ak.firsts(electrons), 0), ak.fill_none(ak.firsts(muons), 0)
    mask = (ak.num(electrons) == 1) & (ak.num(muons) == 1) & (charge_e * charge_mu < 0)
    mask = mask & (ak.sum(jets, axis=1) >= 2) & (ak.sum(jets & (events.jet_btag != 0), axis=1) >= 1)
    return np.asarray(mask), np.asarray(charge_e), np.asarray(charge_mu)


def test_selected_events_hold_one_positron_and_one_negative_muon(events: Any, analysis: analyze.Result) -> None:
    selected, charge_e, charge_mu = _fiducial(events)
    assert np.count_nonzero(selected) == analysis.n_selected > 0
    # one charge assignment: the e⁺ from the W⁺, the μ⁻ from the W⁻
    assert set(charge_e[selected]) == {1}
    assert set(charge_mu[selected]) == {-1}


def test_report_shows_sigma_and_how_to_undo_the_branching_fractions(
    run_dir: Path, generation: pythia8_generate.Result
) -> None:
    report = (run_dir / "report.md").read_text()
    assert generation.sigma_pb is not None
    assert f"{generation.sigma_pb:.5g}" in report
    assert f"σ(tt̄) × {W_TO_LEPTON_BR**2:.5f}" in report
    assert "24:onPosIfAny = 11" in report
    assert "24:onNegIfAny = 13" in report
