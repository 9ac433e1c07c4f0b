"""workflows/ml_generator.yaml end to end: Pythia8 sample → flow-matching generator → the same analysis on both →
classifier two-sample test, with the reviewer's gates (Z peak in both, fiducial σ agreement, classifier verdict).

Measured with the shipped settings (5000 events, 150 epochs, 2 cores): AUC 0.549 ± 0.008 against the independent
sample, generated fiducial σ within 2 σ of the sample's, Z peak in the right bin; about 3 minutes including the
reviewer's retraining by reproduce.sh.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from madagents.rundir import RunDir
from madagents.runner import start_run
from madagents.settings import Settings
from madagents.workflow import load_workflow
from madagents_tools.generation import pythia8_generate
from madagents_tools.ml import classifier_test
from tests.conftest import REPO

pytest.importorskip("torch")

pytestmark = pytest.mark.slow

WORKFLOW = REPO / "workflows" / "ml_generator.yaml"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ml_generator") / "run"
    start_run(load_workflow(WORKFLOW), out, Settings(sandbox="local"), ["madagents", "run", "test"])
    return out


def test_the_reviewer_signs_off_both_samples_and_the_classifier_verdict(run_dir: Path) -> None:
    assert RunDir(run_dir).status().state == "succeeded"
    report = (run_dir / "report.md").read_text()
    for gate in (
        "peak m_mumu (02-analyze)",
        "peak m_mumu (04-analyze_generated)",
        "classifier test (06-classifier)",
        "fiducial σ of generated events (03-cfm)",
    ):
        assert f"| {gate} | ✓ pass |" in report
    assert "| reproduce.sh | ✓ pass | identical histograms and events from all 5000 events |" in report


def test_the_classifier_cannot_tell_generated_from_pythia8_muon_pairs(run_dir: Path) -> None:
    test = classifier_test.Result.model_validate_json((run_dir / "steps/06-classifier/result.json").read_text())
    assert test.metrics is not None
    assert test.metrics.auc < 0.56, test.message
    assert 0.9 < test.metrics.weight_mean < 1.1


def test_the_classifier_compares_with_events_the_flow_never_saw(run_dir: Path) -> None:
    request = classifier_test.Request.model_validate_json((run_dir / "steps/06-classifier/request.json").read_text())
    sample = pythia8_generate.Request.model_validate_json((run_dir / "steps/01-generate/request.json").read_text())
    reference = pythia8_generate.Request.model_validate_json((run_dir / "steps/05-reference/request.json").read_text())
    assert request.reference_path == reference.root_path != sample.root_path
    assert reference.seed != sample.seed
    assert (
        reference.model_copy(
            update={"seed": sample.seed, "root_path": sample.root_path, "hepmc_path": sample.hepmc_path}
        )
        == sample
    )


def test_independent_steps_ran_side_by_side(run_dir: Path) -> None:
    """The sample's analysis needs only the sample: the dispatcher sends it together with the generator's training."""
    calls = {
        event["step_dir"]: (event["time"] - event["seconds"], event["time"])
        for event in map(json.loads, (run_dir / "trace.jsonl").read_text().splitlines())
        if event["event"] == "tool_call" and event["step_dir"].startswith("steps/")
    }
    analysis, training = calls["steps/02-analyze"], calls["steps/03-cfm"]
    assert training[0] < analysis[1]  # the training started before the analysis ended
