"""The S₁ leptoquark workflow end to end: real Pythia8 pair production, μj pairing, the peak at the generated mass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from madagents.runner import start_run
from madagents.settings import Settings
from madagents.validation import load_hist
from madagents.workflow import load_workflow
from madagents_tools.generation import pythia8_generate
from tests.conftest import REPO

pytestmark = pytest.mark.slow

N_EVENTS = 300
MASS_GEV = 1000.0


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lq") / "run"
    workflow = load_workflow(REPO / "workflows" / "leptoquark_s1.yaml", events=N_EVENTS, seed=42)
    start_run(workflow, out, Settings(verify_events=100, sandbox="local"), ["madagents", "run", "test"])
    return out


def test_the_reconstructed_resonance_peaks_at_the_generated_mass(run_dir: Path) -> None:
    histogram = load_hist(run_dir / "hists/m_muj.json")
    centers, values = histogram.axes[0].centers, histogram.values()
    assert abs(centers[np.argmax(values)] - MASS_GEV) <= histogram.axes[0].widths[0]
    # most selected events reconstruct within ±15 % of the mass: the pairing is right, not only the mode
    window = (centers > 0.85 * MASS_GEV) & (centers < 1.15 * MASS_GEV)
    assert values[window].sum() > 0.6 * values.sum()


def test_every_event_has_a_leptoquark_pair_decaying_to_u_mu(run_dir: Path) -> None:
    result = pythia8_generate.Result.model_validate_json((run_dir / "steps/01-generate/result.json").read_text())
    assert result.n_events == N_EVENTS
    (table,) = [decay for decay in result.decay_tables if decay.pdg_id == 42]
    assert [(channel.products, channel.branching_ratio) for channel in table.channels if channel.on] == [([2, 13], 1.0)]
    assert 0.002 < result.sigma_pb < 0.008  # LO σ(pp → S₁S̄₁) at 1 TeV, 13 TeV is ≈ 4.5 fb


def test_the_decisions_are_in_the_assumptions_log(run_dir: Path) -> None:
    topics = {entry["topic"] for entry in yaml.safe_load((run_dir / "assumptions.yaml").read_text())}
    assert {"Leptoquark model", "Production mode", "Leptoquark line shape", "PDF set", "Object level"} <= topics
    assert json.loads((run_dir / "status.json").read_text())["state"] == "succeeded"
