"""The tt̄ → eμ MadGraph5 chain end to end: MG5 decay chain → Pythia8 shower → eμ selection → gates → reproduce.sh.

MG5 is played by the stand-in of tests/fake_mg5.py, answering with the recorded output of MG5 3.5.7 for exactly
this workflow at 200 events and its own run seed (tests/fixtures/mg5/pp_ttbar_emu); everything after MG5 is real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from madagents.rundir import RunDir
from madagents_tools.analysis import analyze
from madagents_tools.generation import mg5_generate, pythia8_generate
from madagents_tools.generation.mg5_output import parse_banner, run_card_values
from tests.conftest import REPO
from tests.fake_mg5 import run_on_recorded_mg5

pytestmark = pytest.mark.slow

WORKFLOW = REPO / "workflows" / "ttbar_emu_mg5.yaml"
RECORDED = REPO / "tests" / "fixtures" / "mg5" / "pp_ttbar_emu"
N_EVENTS = 200


@pytest.fixture(scope="module")
def recorded_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_on_recorded_mg5(WORKFLOW, RECORDED, tmp_path_factory.mktemp("ttbar_mg5_chain"), events=N_EVENTS)


def test_the_fixture_is_what_this_workflow_asks_mg5_for(recorded_chain: Path) -> None:
    request = json.loads((recorded_chain / "steps/01-mg5/request.json").read_text())
    used = run_card_values(parse_banner((RECORDED / "run_01_tag_1_banner.txt").read_text()).run_card)
    assert (used["iseed"], used["nevents"]) == (str(request["seed"]), str(N_EVENTS))
    assert request["processes"] == ["p p > t t~, (t > b w+, w+ > e+ ve), (t~ > b~ w-, w- > mu- vm~)"]


def test_sigma_is_the_recorded_banners_through_the_shower(recorded_chain: Path) -> None:
    recorded_sigma = parse_banner((RECORDED / "run_01_tag_1_banner.txt").read_text()).sigma_pb
    hard = RunDir(recorded_chain).read_model("steps/01-mg5/result.json", mg5_generate.Result)
    shower = RunDir(recorded_chain).read_model("steps/02-shower/result.json", pythia8_generate.Result)
    assert recorded_sigma == pytest.approx(5.76945, rel=1e-9)
    assert hard.sigma_pb == pytest.approx(recorded_sigma, rel=1e-9)
    assert (hard.n_events, shower.n_events) == (N_EVENTS, N_EVENTS)
    assert shower.sigma_pb == pytest.approx(recorded_sigma, rel=1e-9)


def test_the_emu_selection_keeps_dileptonic_top_events(recorded_chain: Path) -> None:
    analysis = RunDir(recorded_chain).read_model("steps/03-analyze/result.json", analyze.Result)
    # one e⁺ and one μ⁻ from the W decays in every event: about a third pass pT > 25 GeV, |η| < 2.5, isolation,
    # ≥ 2 jets and ≥ 1 b-jet (the recorded real run: 65 of 200)
    assert 0.2 < analysis.n_selected / N_EVENTS < 0.45
    assert analysis.sigma_pb is not None
    assert analysis.fiducial_sigma_pb == pytest.approx(analysis.sigma_pb * analysis.n_selected / N_EVENTS)
    counts = {record.name: record for record in analysis.histograms}
    assert [record.entries for record in counts.values()] == pytest.approx([analysis.n_selected] * len(counts))
    n_bjets = json.loads((recorded_chain / "hists/n_bjets.json").read_text())["storage"]["values"]
    assert n_bjets[:2] == [0.0, 0.0], "no selected event without a b-jet (underflow, N_b = 0)"
    assert (counts["n_jets"].peak or 0) >= 2
    assert 20 < (counts["m_emu"].peak or 0) < 150, "two leptons of different top decays: m_eμ well below m_t"


def test_every_gate_passes_including_banner_and_reproduction(recorded_chain: Path) -> None:
    assert RunDir(recorded_chain).status().state == "succeeded"
    report = (recorded_chain / "report.md").read_text()
    gates = ("cross section vs banner", "event count (01-mg5)", "event count (02-shower)", "fiducial cross section")
    for gate in gates:
        assert f"| {gate} | ✓ pass |" in report
    assert "| reproduce.sh | ✓ pass | identical histograms and events from all 200 events |" in report
