"""What a comparison reads from either side: histograms by name, σ and σ_fid when the source has them."""

from __future__ import annotations

from dataclasses import dataclass, field

from madagents.compare.histogram import Binned, CrossSection, Source
from madagents_tools.analysis.unbinned import Unbinned

__all__ = ["Sample"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One side of a comparison, read from a run, a golden, a HEPData table or a YODA file."""

    source: Source
    path: str
    histograms: dict[str, Binned]
    sigma: CrossSection | None = None
    """The generator's total cross section; None for published tables."""
    fiducial_sigma: CrossSection | None = None
    """σ × selection efficiency."""
    unbinned: dict[str, Unbinned] = field(default_factory=dict)
    """Each histogram's unbinned values, by histogram name, where the source kept them (runs, goldens)."""
    notes: list[str] = field(default_factory=list)
    """What the reader assumed (units, the error sum), shown with the result."""
