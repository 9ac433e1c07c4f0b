"""Shared by the catalogue physics tests: run a shipped workflow with real Pythia8 and read what it produced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from madagents.runner import start_run
from madagents.settings import Settings
from madagents.validation import load_hist
from madagents.workflow import load_workflow
from madagents_tools.generation import pythia8_generate
from tests.conftest import REPO

M_W_GEV = 80.369
"""PDG 2024, W boson mass."""
M_Z_GEV = 91.188
"""PDG 2024, Z boson mass."""
M_H_GEV = 125.0
"""The catalogue's Higgs mass (PDG 2024: 125.20 ± 0.11 GeV)."""
M_TOP_GEV = 172.5
"""The catalogue's top mass, the LHC's MC convention (PDG 2024: 172.57 ± 0.29 GeV)."""
BR_W_TO_E_OR_MU = 0.1071 + 0.1063
"""PDG 2024, BR(W → eν) + BR(W → μν)."""
BR_Z_TO_EE_OR_MUMU = 0.03363 + 0.03366
"""PDG 2024, BR(Z → ee) + BR(Z → μμ)."""


def run_workflow(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """The shipped ``workflows/<name>.yaml`` run on the local backend; the run must succeed (all gates pass)."""
    out = tmp_path_factory.mktemp(name) / "run"
    workflow = load_workflow(REPO / "workflows" / f"{name}.yaml")
    start_run(workflow, out, Settings(verify_events=50, sandbox="local"), ["madagents", "run", "test"])
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "succeeded", status
    return out


def generation(run_dir: Path, step: str = "01-generate") -> pythia8_generate.Result:
    """The Pythia8 step's result (``02-shower`` after an MG5 step)."""
    return pythia8_generate.Result.model_validate_json((run_dir / "steps" / step / "result.json").read_text())


def sigma_pb(run_dir: Path, step: str = "01-generate") -> float:
    sigma = generation(run_dir, step).sigma_pb
    assert sigma is not None
    return sigma


def peak(run_dir: Path, name: str) -> tuple[float, Any]:
    """Centre of the highest bin of ``hists/<name>.json``, and the histogram."""
    histogram = load_hist(run_dir / "hists" / f"{name}.json")
    return float(histogram.axes[0].centers[int(np.argmax(histogram.values()))]), histogram


def mean(histogram: Any) -> float:
    """Mean of the in-range entries, from the bin centres."""
    values = histogram.values()
    return float(np.average(histogram.axes[0].centers, weights=values))


def share_above(histogram: Any, edge: float) -> float:
    """Share of all entries (flow included) in bins at or above ``edge``, overflow included."""
    values, edges = histogram.values(flow=True), histogram.axes[0].edges
    above = values[1:-1][edges[:-1] >= edge].sum() + values[-1]
    return float(above / values.sum())


def share_below(histogram: Any, edge: float) -> float:
    """Share of all entries (flow included) in bins below ``edge``, underflow included."""
    values, edges = histogram.values(flow=True), histogram.axes[0].edges
    below = values[1:-1][edges[1:] <= edge].sum() + values[0]
    return float(below / values.sum())


def gate_line(run_dir: Path, gate: str) -> str:
    """The report's row of one gate, e.g. ``| edge m_t | ✓ pass | ... |``."""
    rows = [line for line in (run_dir / "report.md").read_text().splitlines() if line.startswith(f"| {gate} |")]
    assert rows, f"report.md has no gate {gate!r}"
    return rows[0]


def pythia_lo_sigma_pb(settings: list[str], events: int = 2000, seed: int = 7) -> float:
    """Pythia8's LO σ of a hard process alone (no shower, no hadrons): a reference computed in a second."""
    import pythia8mc  # noqa: PLC0415

    pythia = pythia8mc.Pythia("", False)
    fixed = ["Beams:eCM = 13000", "PartonLevel:all = off", "HadronLevel:all = off", "Next:numberCount = 0"]
    for line in [*fixed, "Random:setSeed = on", f"Random:seed = {seed}", *settings]:
        assert pythia.readString(line), line
    assert pythia.init()
    for _ in range(events):
        pythia.next()
    return float(pythia.infoPython().sigmaGen()) * 1e9


def fiducial_sigma_pb(run_dir: Path) -> float:
    """σ after the analysis' cuts, as the analysis step reported it."""
    result = json.loads((run_dir / "steps/02-analyze/result.json").read_text())
    return float(result["fiducial_sigma_pb"])
