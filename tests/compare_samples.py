"""Golden directories of a Breit–Wigner-like m_μμ sample, made without a generator, for the comparison tests."""

from __future__ import annotations

import json
from pathlib import Path

import hist
import hist.serialization
import numpy as np
import uhi.io.json

from madagents_tools.analysis.unbinned import write_values


def write_golden_dir(
    path: Path,
    *,
    mass: float = 91.0,
    seed: int = 1,
    bins: int = 30,
    events: int = 4000,
    sigma: float = 1500.0,
    weights: np.typing.NDArray[np.float64] | None = None,
    values: bool = True,
) -> Path:
    """Unit weights (unless given), σ / N normalisation, ``golden.json`` as ``--madagents-update-golden`` writes it,
    and the unbinned values unless ``values`` is False (as goldens of runs from before they were kept)."""
    rng = np.random.default_rng(seed)
    masses = mass + 2.5 * rng.standard_cauchy(events)
    weights = np.ones(events) if weights is None else weights
    histogram = hist.Hist(hist.axis.Regular(bins, 60, 120, name="m_mumu"), storage=hist.storage.Weight())
    histogram.fill(masses, weight=weights)
    (path / "hists").mkdir(parents=True)
    text = json.dumps(hist.serialization.to_uhi(histogram), default=uhi.io.json.default)
    (path / "hists" / "m_mumu.json").write_text(text)
    if values:
        write_values(path / "hists" / "m_mumu.values.npy", masses, weights)
    golden = {"n_generated": events, "sigma_pb": sigma, "sigma_err_pb": sigma * 0.01}
    (path / "golden.json").write_text(json.dumps(golden))
    return path
