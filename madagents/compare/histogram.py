"""The one histogram shape every reader produces: differential values per bin with their uncertainties."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["CROSS_SECTION_UNITS", "Binned", "CrossSection", "Floats", "Source", "from_weights"]

CROSS_SECTION_UNITS = {"ab": 1e-6, "fb": 1e-3, "pb": 1.0, "nb": 1e3, "ub": 1e6, "mb": 1e9}
"""Cross-section units in pb: the start of a HEPData header's units (``PB/GEV``), a reference table's ``units``."""

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Binned:
    """One 1D histogram as dσ/dx per bin (or a unit-area density), whatever file it came from."""

    name: str
    """The histogram's name in its source (a run's ``hists/NAME.json``, a HEPData header, a YODA path)."""
    edges: Floats
    """Bin edges, ``len(values) + 1`` of them, increasing."""
    values: Floats
    """Bin contents divided by the bin width."""
    err_down: Floats
    """Uncertainty below the value (≥ 0)."""
    err_up: Floats
    """Uncertainty above the value (≥ 0); equal to ``err_down`` for Monte Carlo."""
    kind: Literal["mc", "data"]
    """mc: from generated events, with Poisson statistics (``weight_scale``); data: published values and errors."""
    weight_scale: Floats | None = None
    """mc only: variance per unit of value in each bin (the scaled mean event weight, so var = scale × value);
    an empty bin holds the histogram's mean, so that its uncertainty under the hypothesis is not zero."""
    units: str | None = None
    """The values' unit when the source states it (``pb/GeV``); None for unit-area densities and unknown units."""

    @property
    def widths(self) -> Floats:
        return np.diff(self.edges)

    def integral(self) -> float:
        return float(np.sum(self.values * self.widths))

    def scaled(self, factor: float) -> Binned:
        """The same histogram times ``factor`` (normalisation): values, errors and the per-value variance scale."""
        scale = None if self.weight_scale is None else self.weight_scale * factor
        return Binned(
            self.name,
            self.edges,
            self.values * factor,
            self.err_down * factor,
            self.err_up * factor,
            self.kind,
            scale,
            None if factor != 1 else self.units,
        )


@dataclass(frozen=True, slots=True)
class CrossSection:
    """A cross section with its symmetric uncertainty, in pb."""

    value_pb: float
    error_pb: float


Source = Literal["run", "golden", "hepdata", "yoda", "table"]


def from_weights(name: str, edges: Floats, sumw: Floats, sumw2: Floats, scale: float, units: str | None) -> Binned:
    """A Monte Carlo histogram from its sums of weights, times ``scale`` (σ / N_generated), divided by the widths.

    An empty bin keeps value 0 and zero error, but its variance per value is the histogram's mean one: under the
    hypothesis that it should hold μ, its variance is that scale × μ, not zero (the rule in docs/compare.md).
    """
    widths = np.diff(edges)
    values = scale * sumw / widths
    errors = scale * np.sqrt(np.clip(sumw2, 0.0, None)) / widths
    total_w, total_w2 = float(np.sum(sumw)), float(np.sum(sumw2))
    mean_weight = total_w2 / total_w if total_w > 0 else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        per_bin = np.where(sumw > 0, sumw2 / np.where(sumw > 0, sumw, 1.0), mean_weight)
    return Binned(name, edges, values, errors, errors, "mc", scale * per_bin / widths, units)
