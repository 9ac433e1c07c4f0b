"""Drell–Yan at detector level: Pythia8 → parametric detector (ATLAS card) → analysis, one seed ruling the chain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot
import yaml

from madagents.rundir import Provenance, RunDir
from madagents.runner import start_run
from madagents.settings import Settings
from madagents.state import Plan
from madagents.workflow import load_workflow
from madagents_tools.analysis import analyze
from madagents_tools.detector import detector
from tests.conftest import REPO

pytestmark = pytest.mark.slow

WORKFLOW = REPO / "workflows" / "drell_yan_detector.yaml"
N_EVENTS = 600
SEED = 4242


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dy_detector") / "run"
    workflow = load_workflow(WORKFLOW, events=N_EVENTS, seed=SEED)
    start_run(workflow, out, Settings(sandbox="local"), ["madagents", "run", "test"])
    return out


def test_the_chain_is_generate_detector_analyse_with_seeds_from_the_run_seed(run_dir: Path) -> None:
    plan = RunDir(run_dir).read_model("plan.json", Plan)
    assert [(step.id, step.request.tool, step.needs) for step in plan.steps] == [
        ("01-generate", "pythia8_generate", []),
        ("02-detector", "detector", ["01-generate"]),
        ("03-analyze", "analyze", ["02-detector"]),
    ]
    simulate = plan.step_request(detector.Request)
    assert simulate.seed == plan.derived_seeds["detector"] != plan.derived_seeds["pythia8"]
    assert plan.step_request(analyze.Request).events_path == simulate.output_path


def test_the_analysis_reads_delphes_like_muons_smeared_around_the_particle_level_ones(run_dir: Path) -> None:
    with uproot.open(run_dir / "events/detector.root") as file:
        tree = file["Delphes"]
        assert {"Muon_size", "Muon.PT", "Muon.Eta", "MissingET.MET", "Event.Weight"} <= set(tree.keys())
        measured = tree.arrays(["Muon.PT", "Muon.Eta"], library="np")
    with uproot.open(run_dir / "events/events.root") as file:
        true = file["events"].arrays(["muon_pt", "muon_eta"], library="np")
    # the same muon at both levels: the detector smears pT and leaves the direction alone
    ratios = np.array(
        [
            pt / true_pt
            for pts, etas, true_pts, true_etas in zip(
                measured["Muon.PT"], measured["Muon.Eta"], true["muon_pt"], true["muon_eta"], strict=True
            )
            for pt, eta in zip(pts, etas, strict=True)
            for true_pt, true_eta in zip(true_pts, true_etas, strict=True)
            if abs(eta - true_eta) < 1e-4 and true_pt > 25
        ]
    )
    assert len(ratios) > 20
    assert 0.0 < np.std(ratios) < 0.1  # ATLAS muon resolution: 1-3 % at these momenta
    assert abs(np.median(ratios) - 1.0) < 0.02


def test_the_reviewer_signs_off_and_reproduce_gives_identical_detector_level_histograms(run_dir: Path) -> None:
    assert RunDir(run_dir).status().state == "succeeded"
    report = (run_dir / "report.md").read_text()
    assert "| reproduce.sh | ✓ pass | identical histograms and events from all 600 events |" in report
    assert "| peak m_mumu | ✓ pass |" in report


def test_the_parametric_detector_is_never_presented_as_delphes(run_dir: Path) -> None:
    topics = {entry["topic"]: entry["choice"] for entry in yaml.safe_load((run_dir / "assumptions.yaml").read_text())}
    assert "this is not Delphes" in topics["Detector response"]
    assert "Object level" not in topics  # the particle-level note is replaced by the detector's
    provenance = RunDir(run_dir).read_model("provenance.json", Provenance)
    assert provenance.detector.startswith("parametric (card atlas, seed ")
