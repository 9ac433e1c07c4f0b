"""The S₁ leptoquark MadGraph5 chain end to end: MG5 pair + decays (composite_LQ_UFO) → Pythia8 → 2μ + 2j → gates.

MG5 is played by the stand-in of tests/fake_mg5.py, answering with the recorded output of MG5 3.5.7 for exactly
this workflow at 200 events and its own run seed (tests/fixtures/mg5/pp_s1s1_umu); everything after MG5 is real.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from madagents.rundir import RunDir
from madagents.validation import load_hist
from madagents_tools.analysis import analyze
from madagents_tools.generation import mg5_generate, pythia8_generate
from madagents_tools.generation.mg5_output import parse_banner, run_card_values, slha_value
from tests.conftest import REPO
from tests.fake_mg5 import run_on_recorded_mg5

pytestmark = pytest.mark.slow

WORKFLOW = REPO / "workflows" / "leptoquark_s1_mg5.yaml"
RECORDED = REPO / "tests" / "fixtures" / "mg5" / "pp_s1s1_umu"
N_EVENTS = 200
MASS_GEV = 1000.0


@pytest.fixture(scope="module")
def recorded_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_on_recorded_mg5(WORKFLOW, RECORDED, tmp_path_factory.mktemp("lq_mg5_chain"), events=N_EVENTS)


def test_the_fixture_is_what_this_workflow_asks_mg5_for(recorded_chain: Path) -> None:
    request = json.loads((recorded_chain / "steps/01-mg5/request.json").read_text())
    banner = parse_banner((RECORDED / "run_01_tag_1_banner.txt").read_text())
    used = run_card_values(banner.run_card)
    assert (used["iseed"], used["nevents"]) == (str(request["seed"]), str(N_EVENTS))
    assert request["model"] == "composite_LQ_UFO"
    assert "import model composite_LQ_UFO" in banner.proc_card
    assert request["processes"] == ["p p > s1b s1b~, s1b > u mu-, s1b~ > u~ mu+"]
    # m_S₁, Γ_S₁ and the couplings (only λ_uμ on) the recorded run used are the workflow's
    for entry, value in request["param_card"].items():
        block, *ids = entry.split()
        assert slha_value(banner.param_card, block, tuple(int(i) for i in ids)) == pytest.approx(value), entry


def test_sigma_is_the_recorded_banners_through_the_shower(recorded_chain: Path) -> None:
    recorded_sigma = parse_banner((RECORDED / "run_01_tag_1_banner.txt").read_text()).sigma_pb
    hard = RunDir(recorded_chain).read_model("steps/01-mg5/result.json", mg5_generate.Result)
    shower = RunDir(recorded_chain).read_model("steps/02-shower/result.json", pythia8_generate.Result)
    assert recorded_sigma == pytest.approx(0.003967602, rel=1e-9)  # LO σ(pp → S₁S̄₁) × BR² ≈ 4 fb at 1 TeV
    assert hard.sigma_pb == pytest.approx(recorded_sigma, rel=1e-9)
    assert (hard.n_events, shower.n_events) == (N_EVENTS, N_EVENTS)
    assert shower.sigma_pb == pytest.approx(recorded_sigma, rel=1e-9)


def test_most_events_have_two_muons_and_two_jets(recorded_chain: Path) -> None:
    analysis = RunDir(recorded_chain).read_model("steps/03-analyze/result.json", analyze.Result)
    # both muons and both quarks come from 1 TeV decays, so they are hard and mostly central: most events pass
    # 2 opposite-sign isolated μ + ≥ 2 jets, pT > 50 GeV, |η| < 2.5 (the recorded real run: 171 of 200)
    assert 0.75 < analysis.n_selected / N_EVENTS < 0.95
    assert analysis.sigma_pb is not None
    assert analysis.fiducial_sigma_pb == pytest.approx(analysis.sigma_pb * analysis.n_selected / N_EVENTS)
    n_jets = {record.name: record for record in analysis.histograms}["n_jets"]
    assert (n_jets.peak or 0) >= 2


def test_the_muon_jet_mass_peaks_at_the_generated_mass(recorded_chain: Path) -> None:
    histogram = load_hist(recorded_chain / "hists/m_muj.json")
    centers, values = histogram.axes[0].centers, histogram.values()
    assert abs(centers[np.argmax(values)] - MASS_GEV) <= histogram.axes[0].widths[0]
    # most selected events reconstruct within ±15 % of the mass: the pairing is right, not only the mode
    window = (centers > 0.85 * MASS_GEV) & (centers < 1.15 * MASS_GEV)
    assert values[window].sum() > 0.6 * values.sum()
    assert "| peak m_muj | ✓ pass |" in (recorded_chain / "report.md").read_text()


def test_every_gate_passes_including_banner_and_reproduction(recorded_chain: Path) -> None:
    assert RunDir(recorded_chain).status().state == "succeeded"
    report = (recorded_chain / "report.md").read_text()
    table = report.split("## Physics gates")[1].split("\n## ")[0]
    gates = dict(re.findall(r"^\| (.+?) \| (✓ pass|✗ FAIL) \|", table, flags=re.M))
    named = {"event count (01-mg5)", "event count (02-shower)", "cross section vs banner", "fiducial cross section"}
    assert named | {"peak m_muj", "reproduce.sh"} <= gates.keys()
    assert [gate for gate, result in gates.items() if result != "✓ pass"] == []
    assert "| reproduce.sh | ✓ pass | identical histograms and events from all 200 events |" in report
