"""The card of the parametric detector: per-object efficiencies, resolutions and isolation, b-tagging and MET.

Efficiencies and resolutions are piecewise in pT and |η|, like the formulas of Delphes' ``Efficiency`` and
``MomentumSmearing`` modules (Delphes 3, arXiv:1307.6346): each bin covers ``low <= x < high`` in both variables,
and an object outside every bin has efficiency 0 and is not smeared, as a Delphes formula evaluates to 0 there.
The card travels inline in the detector request, so ``plan.json`` and ``reproduce.sh`` carry every number.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeAlias

from pydantic import AfterValidator, Field, model_validator

from madagents_tools.contract import StrictModel

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]
    Flags: TypeAlias = npt.NDArray[np.bool_]

__all__ = [
    "BTagCard",
    "DetectorCard",
    "EfficiencyBin",
    "JetCard",
    "LeptonCard",
    "MissingEtCard",
    "Region",
    "Resolution",
    "ResolutionBin",
    "efficiency",
    "relative_resolution",
]

Interval = tuple[float, float | None]
"""``[low, high)``; ``high`` null (None) means no upper limit."""


class Region(StrictModel):
    """A rectangle in (|η|, pT)."""

    abs_eta: Interval = Field(default=(0.0, None), description="[low, high) in |η|; null high: no upper limit.")
    pt_gev: Interval = Field(default=(0.0, None), description="[low, high) in pT (GeV); null high: no upper limit.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for name, (low, high) in (("abs_eta", self.abs_eta), ("pt_gev", self.pt_gev)):
            if low < 0 or (high is not None and high <= low):
                msg = f"{name} [{low}, {high}) must satisfy 0 <= low < high (null high: no upper limit)"
                raise ValueError(msg)
        return self

    def contains(self, pt: Floats, abs_eta: Floats) -> Flags:
        inside: Flags = (abs_eta >= self.abs_eta[0]) & (pt >= self.pt_gev[0])
        if self.abs_eta[1] is not None:
            inside &= abs_eta < self.abs_eta[1]
        if self.pt_gev[1] is not None:
            inside &= pt < self.pt_gev[1]
        return inside

    def overlaps(self, other: Region) -> bool:
        return _intervals_overlap(self.abs_eta, other.abs_eta) and _intervals_overlap(self.pt_gev, other.pt_gev)


def _intervals_overlap(first: Interval, second: Interval) -> bool:
    (low_a, high_a), (low_b, high_b) = first, second
    return (high_b is None or low_a < high_b) and (high_a is None or low_b < high_a)


def _disjoint(bins: list[Any]) -> list[Any]:
    for (i, first), (j, second) in itertools.combinations(enumerate(bins), 2):
        if first.overlaps(second):
            msg = (
                f"bins {i} (|η| {list(first.abs_eta)}, pT {list(first.pt_gev)}) and {j} (|η| {list(second.abs_eta)}, "
                f"pT {list(second.pt_gev)}) overlap; each object must fall into at most one bin"
            )
            raise ValueError(msg)
    return bins


class EfficiencyBin(Region):
    efficiency: float = Field(ge=0.0, le=1.0, description="Probability that an object in this bin is kept.")


class ResolutionBin(Region):
    """σ(x)/x = C ⊕ S/√x ⊕ N/x ⊕ L·x (added in quadrature), x the resolution's variable in GeV."""

    constant: float = Field(default=0.0, ge=0.0, description="C, dimensionless.")
    stochastic: float = Field(default=0.0, ge=0.0, description="S in √GeV (calorimeters).")
    noise_gev: float = Field(default=0.0, ge=0.0, description="N in GeV (calorimeter noise).")
    linear_per_gev: float = Field(default=0.0, ge=0.0, description="L in 1/GeV (the curvature term of tracks).")

    def relative(self, x: Floats) -> Floats:
        import numpy as np  # noqa: PLC0415

        with np.errstate(divide="ignore"):
            variance = self.constant**2 + self.stochastic**2 / x + (self.noise_gev / x) ** 2
        result: Floats = np.sqrt(variance + (self.linear_per_gev * x) ** 2)
        return result


Efficiency = Annotated[list[EfficiencyBin], AfterValidator(_disjoint)]
"""Disjoint efficiency bins; an object outside all of them is lost."""


class Resolution(StrictModel):
    """Relative resolution by bin; the smeared momentum is log-normal around the true one (as Delphes does)."""

    variable: Literal["pt", "energy"] = Field(description="x of the formula: pT (trackers) or energy (calorimeters).")
    bins: Annotated[list[ResolutionBin], AfterValidator(_disjoint)] = Field(default_factory=list)


class LeptonCard(StrictModel):
    efficiency: Efficiency = Field(description="Reconstruction × identification efficiency after smearing.")
    resolution: Resolution
    isolation_max: float | None = Field(
        default=None,
        gt=0.0,
        description="Keep leptons with relative isolation below this (Delphes' Isolation PTRatioMax); None: no cut.",
    )


class JetCard(StrictModel):
    efficiency: Efficiency = Field(description="Acceptance and pT threshold of reconstructed jets, after smearing.")
    resolution: Resolution


class BTagCard(StrictModel):
    """Tagging probabilities by jet flavour, like the ``EfficiencyFormula`` lines of Delphes' BTagging module."""

    b: Efficiency = Field(description="Efficiency for b jets.")
    c: Efficiency = Field(description="Mistag rate for c jets (used only where the input labels c jets).")
    light: Efficiency = Field(description="Mistag rate for light-quark and gluon jets.")


class MissingEtCard(StrictModel):
    soft_resolution_gev: float = Field(
        default=0.0,
        ge=0.0,
        description="Extra Gaussian σ on each MET component for unclustered energy; 0 switches it off.",
    )


class DetectorCard(StrictModel):
    """Everything the parametric detector applies, with the source of its numbers."""

    name: str = Field(description="Short name, e.g. 'atlas'.", examples=["atlas", "cms"])
    source: str = Field(description="Where the numbers come from (Delphes card and module).")
    muon: LeptonCard
    electron: LeptonCard
    jet: JetCard
    btag: BTagCard
    missing_et: MissingEtCard = Field(default_factory=MissingEtCard)


def efficiency(bins: list[EfficiencyBin], pt: Floats, abs_eta: Floats) -> Floats:
    """Per-object efficiency: the value of the bin holding it, 0 outside every bin."""
    import numpy as np  # noqa: PLC0415

    values: Floats = np.zeros(len(pt), dtype=np.float64)
    for entry in bins:
        values[entry.contains(pt, abs_eta)] = entry.efficiency
    return values


def relative_resolution(resolution: Resolution, pt: Floats, abs_eta: Floats, energy: Floats) -> Floats:
    """Per-object σ/x, capped at 1 as in Delphes' MomentumSmearing; 0 (no smearing) outside every bin."""
    import numpy as np  # noqa: PLC0415

    x = pt if resolution.variable == "pt" else energy
    values: Floats = np.zeros(len(pt), dtype=np.float64)
    for entry in resolution.bins:
        inside = entry.contains(pt, abs_eta)
        values[inside] = entry.relative(x[inside])
    return np.minimum(values, 1.0)
