"""The ML tools at realistic settings: the default 2 → 3 amplitude surrogate, and a flow-matching generator trained on
real Pythia8 Drell–Yan events, analysed like Pythia8's own events and checked by the classifier test.

Thresholds are set from measurements (2 cores, 2026-11): the default surrogate reached 90.5–91.0 % of held-out
points within 1 % (median 0.15 %, pulls mean 0.00, std 0.90–0.91); the generator trained on 5000 Pythia8 events
gives the Z peak in the right 1 GeV bin, a fiducial σ within 1 % of Pythia8's, and classifier AUCs of 0.50–0.52
against an independent Pythia8 sample. Runtime ≈ 3 min on 2 idle cores.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from madagents.agents.planner import plan_workflow
from madagents.workflow import load_workflow
from tests.conftest import DRELL_YAN
from tools import amplitude_surrogate, analyze, cfm_generator, classifier_test, pythia8_generate

pytest.importorskip("torch")
pytest.importorskip("ufoamp")

pytestmark = pytest.mark.slow

Z_MASS = 91.1876
TRAINING_EVENTS = 4000
REFERENCE_EVENTS = 2000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two independent Pythia8 Drell–Yan samples (training, reference), a generated sample, and their analyses."""
    out = tmp_path_factory.mktemp("ml")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(out)
        for name, events, seed in (("train", TRAINING_EVENTS, 101), ("reference", REFERENCE_EVENTS, 202)):
            plan = plan_workflow(load_workflow(DRELL_YAN, events=events, seed=seed))
            request = plan.step_request(pythia8_generate.Request).model_copy(
                update={"hepmc_path": f"{name}/events.hepmc3", "root_path": f"{name}/events.root"}
            )
            result = pythia8_generate.run(request)
            assert result.ok, result.error
            Path(f"{name}/result.json").write_text(result.model_dump_json())
        request = cfm_generator.Request(
            events_path="train/events.root", generation_result_path="train/result.json", n_events=TRAINING_EVENTS
        )
        Path("cfm/result.json").write_text(cfm_generator.run(request).model_dump_json())
    return out


def analyse(run_dir: Path, events: str, generation: str) -> analyze.Result:
    request = analyze.Request(
        events_path=events,
        generation_result_path=generation,
        analysis=load_workflow(DRELL_YAN).analysis,
        out_dir=str(Path(events).parent / "hists"),
        process_label="pp → Z/γ* → μμ, 13 TeV",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(run_dir)
        return analyze.run(request)


def test_default_surrogate_of_the_two_to_three_amplitude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = amplitude_surrogate.run(amplitude_surrogate.Request())
    assert result.ok, result.error
    metrics = result.metrics
    assert metrics is not None
    assert metrics.fraction_within_1pct >= 0.85  # measured 0.905-0.910; the goal is 0.90
    assert metrics.relative_error_quantiles["50"] < 0.003
    assert abs(metrics.pull_mean) < 0.15
    assert 0.75 < metrics.pull_std < 1.25
    assert 0.6 < metrics.coverage_1sigma < 0.85
    assert metrics.surrogate_points_per_second > 50 * metrics.amplitude_points_per_second


def test_generated_drell_yan_gives_the_z_peak_and_the_fiducial_cross_section(run_dir: Path) -> None:
    generated = cfm_generator.Result.model_validate_json((run_dir / "cfm" / "result.json").read_text())
    assert generated.ok, generated.error
    assert generated.metrics is not None
    for name, distance in generated.metrics.wasserstein.items():
        # the generated sample is as close to held-out events as 4× the training/held-out finite-sample floor
        assert distance < 4 * generated.metrics.wasserstein_reference[name] + 0.01, name
    pythia = analyse(run_dir, "train/events.root", "train/result.json")
    flow = analyse(run_dir, "cfm/events.root", "cfm/result.json")
    assert pythia.ok, pythia.error
    assert flow.ok, flow.error
    assert flow.n_events == TRAINING_EVENTS
    assert flow.histograms[0].peak is not None
    assert abs(flow.histograms[0].peak - Z_MASS) <= 1.0
    assert flow.fiducial_sigma_pb is not None
    assert pythia.fiducial_sigma_pb is not None
    error = math.hypot(flow.fiducial_sigma_err_pb or 0.0, pythia.fiducial_sigma_err_pb or 0.0)
    assert abs(flow.fiducial_sigma_pb - pythia.fiducial_sigma_pb) < 3 * error


def test_classifier_finds_generated_and_independent_pythia_events_compatible(run_dir: Path) -> None:
    request = classifier_test.Request(generated_path="cfm/events.root", reference_path="reference/events.root")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(run_dir)
        result = classifier_test.run(request)
    assert result.ok, result.error
    assert result.metrics is not None
    assert result.metrics.auc < 0.56, result.message  # measured 0.50-0.52
    assert result.compatible, result.message
    assert result.metrics.fraction_extreme_weights < 0.01
