"""The ML tools on small, fast inputs: a 2 → 2 amplitude, toy Drell–Yan-like muon pairs, few epochs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import awkward as ak
import hist
import numpy as np
import pytest
import uhi.io.json
import uproot

from madagents.workflow import load_workflow
from madagents_tools.analysis import analyze
from madagents_tools.io.final_state import BRANCHES
from madagents_tools.ml import amplitude_surrogate, cfm_generator, classifier_test
from madagents_tools.ml.ml_common import MLInputError, TrainingOptions, minkowski_products, phase_space
from madagents_tools.ml.ml_events import features, from_features, read_leading_pair
from tests.conftest import DRELL_YAN, REPO

pytest.importorskip("torch")

MUON_MASS = 0.10566
SIGMA_PB = 1500.0


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tools resolve request paths against the run directory, their working directory."""
    monkeypatch.chdir(tmp_path)


def toy_events(path: str, n_events: int, seed: int, *, shift: float = 0.0, single: float = 0.1) -> Path:
    """Z-like muon pairs (Breit–Wigner mass, soft pair pT, isotropic decay), a share ``single`` with one muon.

    ``shift`` moves the pair rapidity and hardens the pair pT: a deliberately different sample.
    """
    rng = np.random.default_rng(seed)
    mass = np.clip(91.19 + 1.25 * np.tan(np.pi * (rng.random(n_events) - 0.5)), 60.0, 200.0)
    values = np.stack(
        [
            np.log(mass),
            np.log(rng.exponential(8.0 * (1 + shift), n_events) + 1.0),
            rng.normal(shift, 1.2, n_events),
            rng.uniform(-1, 1, n_events),
            rng.uniform(-np.pi, np.pi, n_events),
        ],
        axis=1,
    )
    pt, eta, phi, _ = from_features(values, "pair", rng.uniform(-np.pi, np.pi, n_events), MUON_MASS)
    sign = rng.choice([-1, 1], n_events)
    charge = np.stack([sign, -sign], axis=1)
    counts = np.where(rng.random(n_events) < single, 1, 2)
    keep = np.arange(2)[None, :] < counts[:, None]
    muon = {"pt": pt, "eta": eta, "phi": phi, "mass": np.full_like(pt, MUON_MASS), "iso": np.zeros_like(pt)}
    columns = {name: ak.unflatten(values[keep], counts) for name, values in muon.items()}
    columns["charge"] = ak.unflatten(charge[keep].astype(np.int32), counts)
    none = np.zeros(n_events, dtype=np.int64)
    empty = {name: ak.unflatten(np.zeros(0), none) for name in ("pt", "eta", "phi", "mass", "iso")}
    branches = {
        "event_number": np.arange(n_events),
        "weight": np.ones(n_events),
        "mhat": mass,
        "muon": ak.zip(columns),
        "electron": ak.zip({**empty, "charge": ak.unflatten(np.zeros(0, dtype=np.int32), none)}),
        "met_pt": np.zeros(n_events),
        "met_phi": np.zeros(n_events),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path) as file:
        file.mktree("events", {name: BRANCHES[name] for name in branches}).extend(branches)
    return Path(path)


def write_generation(path: str, n_events: int) -> None:
    Path(path).write_text(json.dumps({"ok": True, "n_events": n_events, "sigma_pb": SIGMA_PB, "sigma_err_pb": 15.0}))


def read_hist(path: str) -> Any:
    return hist.Hist(json.loads(Path(path).read_text(), object_hook=uhi.io.json.object_hook))


# --- phase space and features ---------------------------------------------------------------------------------


def test_phase_space_conserves_momentum_puts_legs_on_shell_and_applies_the_cut() -> None:
    masses = [0.0, 0.0, 91.188, 0.0, 0.0]
    momenta, acceptance = phase_space(500, (300.0, 600.0), masses, 0.02, np.random.default_rng(3))
    assert momenta.shape == (500, 5, 4)
    assert 0 < acceptance < 1
    assert np.allclose(momenta[:, :2].sum(axis=1), momenta[:, 2:].sum(axis=1), atol=1e-8)
    squared = momenta[..., 0] ** 2 - np.sum(momenta[..., 1:] ** 2, axis=-1)
    assert np.allclose(squared, np.square(masses), atol=1e-6)
    products, s = minkowski_products(momenta), minkowski_products(momenta)[:, 0, 1]
    for i, j in [(0, 3), (1, 4), (3, 4)]:
        assert np.all(np.abs(products[:, i, j]) >= 0.02 * s)
    assert 300 <= np.sqrt(s).min() < np.sqrt(s).max() <= 600


def test_phase_space_reports_an_impossible_range() -> None:
    with pytest.raises(MLInputError, match="must be ordered"):
        phase_space(10, (50.0, 40.0), [0.0, 0.0, 91.188, 0.0], 0.01, np.random.default_rng(1))


@pytest.mark.parametrize("parametrisation", ["pair", "objects"])
def test_features_map_back_to_the_same_objects(parametrisation: Any) -> None:
    pair = read_leading_pair(toy_events("toy.root", 500, 1, single=0.0), "muon")
    pt, eta, phi = pair.pt, pair.eta, pair.phi
    values = features(pair, parametrisation)
    if parametrisation == "objects":
        azimuth = phi[:, 0]
    else:
        px, py = (np.sum(pt * f(phi), axis=1) for f in (np.cos, np.sin))
        azimuth = np.arctan2(py, px)
    pt2, eta2, phi2, swapped = from_features(values, parametrisation, azimuth, MUON_MASS)
    assert not swapped.any()
    assert np.allclose(pt2, pt, rtol=1e-9)
    assert np.allclose(eta2, eta, atol=1e-9)
    assert np.allclose(np.angle(np.exp(1j * (phi2 - phi))), 0.0, atol=1e-9)


# --- amplitude surrogate --------------------------------------------------------------------------------------

TINY = TrainingOptions(epochs=12, width=32, depth=2, batch_size=64, learning_rate=3e-3)


def surrogate(**fields: Any) -> amplitude_surrogate.Result:
    request = {"process": "u u~ > z g", "n_points": 600, "training": TINY, "jobs": 1, **fields}
    return amplitude_surrogate.run(amplitude_surrogate.Request.model_validate(request))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, amplitude_surrogate.Result]:
    run_dir = tmp_path_factory.mktemp("surrogate")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(run_dir)
        return run_dir, surrogate()


def test_surrogate_training_reduces_the_loss_and_reports_finite_metrics(trained: Any) -> None:
    _, result = trained
    assert result.ok, result.error
    metrics = result.metrics
    assert metrics is not None
    assert metrics.train_loss[-1] < metrics.train_loss[0] - 0.5
    assert (metrics.n_train, metrics.n_test) == (480, 120)
    values = [metrics.test_loss, metrics.pull_mean, metrics.pull_std, *metrics.relative_error_quantiles.values()]
    assert all(math.isfinite(value) for value in values)
    assert list(metrics.relative_error_quantiles) == ["50", "90", "99"]
    assert 0.0 <= metrics.fraction_within_1pct <= 1.0
    assert 0.0 < metrics.acceptance <= 1.0
    assert metrics.amplitude_points_per_second > 0
    assert metrics.surrogate_points_per_second > metrics.amplitude_points_per_second


def test_surrogate_writes_model_metrics_and_histograms(trained: Any) -> None:
    run_dir, result = trained
    kinds = {Path(file.path).name: file.kind for file in result.files}
    assert kinds["metrics.json"] == "json"
    assert {"relative_error.json", "relative_error.png", "pull.json", "pull.png", "model.pt"} <= set(kinds)
    saved = json.loads((run_dir / result.metrics_path).read_text())
    assert saved["pull_std"] == result.metrics.pull_std
    pulls = read_hist(str(run_dir / "surrogate" / "pull.json"))
    assert pulls.sum(flow=True).value == result.metrics.n_test
    assert [plot.name for plot in result.plots] == ["relative_error", "pull"]


def test_saved_surrogate_predicts_what_the_metrics_were_computed_with(trained: Any) -> None:
    run_dir, _ = trained
    model = amplitude_surrogate.Surrogate.load(run_dir / "surrogate" / "model.pt")
    momenta, _ = phase_space(50, (500.0, 500.0), [0.0, 0.0, 91.188, 0.0], 0.01, np.random.default_rng(9))
    m2 = amplitude_surrogate.squared_amplitude("u u~ > z g", momenta)
    value, sigma = model.predict(momenta)
    assert value.shape == sigma.shape == (50,)
    assert np.all(sigma > 0)
    # 12 epochs on 480 points: rough, but far better than a constant would be
    assert np.median(np.abs(value / m2 - 1)) < 0.3


def test_surrogate_is_deterministic_for_a_seed() -> None:
    short = TINY.model_copy(update={"epochs": 3})
    runs = [surrogate(n_points=300, training=short, out_dir=f"s{i}", seed=seed) for i, seed in enumerate((1, 1, 2))]
    first, second, other = (result.metrics for result in runs)
    assert first is not None
    assert second is not None
    assert other is not None
    assert (first.train_loss, first.relative_error_quantiles) == (second.train_loss, second.relative_error_quantiles)
    assert other.train_loss != first.train_loss


@pytest.mark.parametrize(
    ("process", "error"),
    [("u u~ > zprime g", "cannot set up process 'u u~ > zprime g'"), ("t t~ > z g", "two massless incoming")],
)
def test_surrogate_reports_processes_it_cannot_learn(process: str, error: str) -> None:
    result = surrogate(process=process)
    assert not result.ok
    assert error in (result.error or "")


def test_request_models_import_without_torch() -> None:
    code = (
        "import sys; import madagents_tools.ml.amplitude_surrogate, madagents_tools.ml.cfm_generator, "
        "madagents_tools.ml.classifier_test; "
        "assert 'torch' not in sys.modules and 'ufoamp' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --- flow-matching generator ----------------------------------------------------------------------------------

FLOW = TrainingOptions(epochs=15, width=64, depth=2, batch_size=128, learning_rate=3e-3)


def generate(**fields: Any) -> cfm_generator.Result:
    request = {"generation_result_path": "events/result.json", "n_events": 1500, "training": FLOW, **fields}
    return cfm_generator.run(cfm_generator.Request.model_validate(request))


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, cfm_generator.Result]:
    run_dir = tmp_path_factory.mktemp("cfm")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(run_dir)
        toy_events("events/events.root", 2000, 1)
        write_generation("events/result.json", 2000)
        result = generate()
        Path("cfm/result.json").write_text(result.model_dump_json())
        return run_dir, result


def test_flow_training_reduces_the_loss_and_reports_distances(flow_run: Any) -> None:
    _, result = flow_run
    assert result.ok, result.error
    metrics = result.metrics
    assert metrics is not None
    assert metrics.train_loss[-1] < metrics.train_loss[0]
    assert len(metrics.validation_loss) == FLOW.epochs
    assert all(map(math.isfinite, metrics.validation_loss))
    assert set(metrics.wasserstein) == set(metrics.wasserstein_reference)
    assert len(metrics.wasserstein) == 10
    assert all(math.isfinite(value) for value in metrics.wasserstein.values())
    assert metrics.events_per_second > 0
    assert abs(result.charge_fractions["+-"] - 0.5) < 0.05
    assert result.charge_fractions["++"] == 0.0


def test_generated_sample_carries_the_pair_share_of_sigma(flow_run: Any) -> None:
    _, result = flow_run
    assert result.n_training + result.n_validation == round(2000 * result.pair_fraction)
    assert 0.85 < result.pair_fraction < 0.95  # 10 % of the toy events have one muon
    assert result.sigma_pb == pytest.approx(SIGMA_PB * result.pair_fraction)
    assert result.sigma_err_pb is not None
    assert result.sigma_err_pb > 15.0 * result.pair_fraction
    assert result.event_weight == 1.0


def test_generated_tree_has_the_final_state_schema_and_analyze_reads_it(flow_run: Any) -> None:
    run_dir, result = flow_run
    tree = uproot.open(run_dir / "cfm" / "events.root")["events"]
    assert tree.num_entries == 1500
    assert {"event_number", "weight", "mhat", "muon_pt", "muon_charge", "electron_pt", "met_pt", "met_phi"} <= set(
        tree.keys()
    )
    muons = tree.arrays(["muon_pt", "muon_charge"])
    assert ak.all(ak.num(muons.muon_pt) == 2)
    assert ak.all(muons.muon_pt[:, 0] >= muons.muon_pt[:, 1])
    request = analyze.Request.model_validate(
        {
            "events_path": "cfm/events.root",
            "generation_result_path": "cfm/result.json",
            "analysis": load_workflow(DRELL_YAN).analysis,
            "process_label": "CFM toy",
        }
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(run_dir)
        analysis = analyze.run(request)
    assert analysis.ok, analysis.error
    assert analysis.n_events == 1500
    assert analysis.n_selected > 1000
    assert analysis.sigma_pb == result.sigma_pb
    assert analysis.histograms[0].peak is not None
    assert abs(analysis.histograms[0].peak - 91.19) < 3.0


def test_flow_plots_compare_generated_and_training_features(flow_run: Any) -> None:
    run_dir, result = flow_run
    assert len(result.plots) == 10
    masses = read_hist(str(run_dir / result.plots[5].json_path))
    assert result.plots[5].name == "log_m12"
    assert [str(label) for label in masses.axes[1]] == ["training", "generated"]
    assert masses[:, "generated"].sum(flow=True).value == pytest.approx(1500.0)


def test_flow_is_deterministic_for_a_seed(flow_run: Any) -> None:
    run_dir, result = flow_run
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(run_dir)
        again = generate(output_path="again/events.root", out_dir="again")
    first, second = (
        uproot.open(run_dir / name)["events"].arrays(["muon_pt", "muon_eta"])
        for name in ("cfm/events.root", "again/events.root")
    )
    assert ak.all(first.muon_pt == second.muon_pt)
    assert ak.all(first.muon_eta == second.muon_eta)
    assert again.metrics is not None
    assert result.metrics is not None
    assert again.metrics.train_loss == result.metrics.train_loss


def test_flow_without_generation_result_warns_that_sigma_is_unknown() -> None:
    toy_events("events/events.root", 300, 2)
    result = generate(generation_result_path=None, n_events=50, training=FLOW.model_copy(update={"epochs": 1}))
    assert result.ok
    assert result.sigma_pb is None
    assert any("σ unknown" in warning for warning in result.warnings)


def test_flow_reports_a_missing_events_file() -> None:
    result = generate(events_path="events/none.root")
    assert not result.ok
    assert "events/none.root does not exist" in (result.error or "")


# --- classifier two-sample test -------------------------------------------------------------------------------

CLASSIFIER = TrainingOptions(epochs=15, width=64, depth=2, batch_size=128, learning_rate=3e-3)


def classify(generated: str, reference: str, **fields: Any) -> classifier_test.Result:
    request = {"generated_path": generated, "reference_path": reference, "training": CLASSIFIER, **fields}
    return classifier_test.run(classifier_test.Request.model_validate(request))


def test_identical_distributions_give_auc_near_one_half_and_compatible() -> None:
    result = classify(str(toy_events("a.root", 3000, 11)), str(toy_events("b.root", 3000, 12)))
    assert result.ok, result.error
    assert result.metrics is not None
    assert abs(result.metrics.auc - 0.5) < 0.04
    assert 0.005 < result.metrics.auc_err < 0.02
    assert result.compatible is True
    assert result.message.startswith(f"AUC = {result.metrics.auc:.3f}")
    assert "compatible" in result.message
    assert 0.8 < result.metrics.weight_mean < 1.2


def test_shifted_sample_is_separated_and_reported_incompatible() -> None:
    result = classify(str(toy_events("shifted.root", 3000, 13, shift=1.5)), str(toy_events("b.root", 3000, 12)))
    assert result.ok, result.error
    assert result.metrics is not None
    assert result.metrics.auc > 0.8
    assert result.compatible is False
    assert "NOT compatible" in result.message
    largest = max(result.metrics.feature_shifts, key=lambda name: result.metrics.feature_shifts[name])  # type: ignore[union-attr]
    assert largest in {"y12", "eta1", "eta2", "log_pt12"}
    assert largest in result.message
    weights = read_hist("classifier/weights.json")
    assert weights.sum(flow=True).value == result.metrics.n_test_generated
    reweighted = read_hist("classifier/hists/y12.json")
    assert [str(label) for label in reweighted.axes[1]] == ["reference", "generated", "generated × w"]


def test_auc_and_its_hanley_mcneil_error() -> None:
    assert classifier_test._auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert classifier_test._auc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    assert classifier_test._auc(np.array([0.0, 3.0]), np.array([1.0, 2.0])) == 0.5
    # Hanley & McNeil (1982), eq. 2, by hand for A = 0.8 and 50 + 50 cases
    assert classifier_test._hanley_mcneil(0.8, 50, 50) == pytest.approx(0.04450, abs=1e-4)


def test_classifier_reports_a_file_without_muon_pairs() -> None:
    toy_events("one.root", 100, 3, single=1.0)
    result = classify("one.root", str(toy_events("b.root", 300, 12)))
    assert not result.ok
    assert "only 0 events have two muons" in (result.error or "")


def test_tools_run_from_the_command_line_and_report_bad_requests() -> None:
    toy_events("a.root", 400, 1)
    toy_events("b.root", 400, 2)
    request = {"generated_path": "a.root", "reference_path": "b.root", "training": {"epochs": 2}}
    Path("request.json").write_text(json.dumps(request))
    Path("bad.json").write_text(json.dumps({"generated_path": "a.root", "epochs": 2}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "madagents_tools.ml.classifier_test"]
    assert subprocess.run([*command, "request.json", "result.json"], env=env, check=False).returncode == 0
    result = classifier_test.Result.model_validate_json(Path("result.json").read_text())
    assert result.ok
    assert result.metrics is not None
    assert subprocess.run([*command, "bad.json", "bad_result.json"], env=env, check=False).returncode == 1
    bad = classifier_test.Result.model_validate_json(Path("bad_result.json").read_text())
    assert not bad.ok
    assert "epochs" in (bad.error or "")
