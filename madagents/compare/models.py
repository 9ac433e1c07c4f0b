"""The result of a comparison: typed, JSON-able, the one thing the CLI, JUnit, HTML, pytest and MCP render."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field

__all__ = ["BinPull", "ComparisonResult", "CrossSectionComparison", "HistogramComparison"]


class BinPull(BaseModel):
    low: float
    high: float
    pull: float | None = Field(description="(run − reference) / combined uncertainty; None: the bin was skipped.")


class HistogramComparison(BaseModel):
    name: str = Field(description="The run's histogram.")
    reference_name: str
    mode: Literal["absolute", "shape", "normalised"]
    chi2: float
    ndf: int
    p_value: float
    max_pull: BinPull | None = Field(description="The bin that pulls furthest.")
    bins: list[BinPull]
    ks_statistic: float | None = Field(
        default=None, description="Kolmogorov-Smirnov D of the two sides' unbinned values; None: not tested (notes)."
    )
    ks_p_value: float | None = None
    skipped: bool = Field(description="Marked skip in the tolerances: reported, never failing.")
    compatible: bool
    reasons: list[str] = Field(default_factory=list, description="Why it is incompatible.")
    notes: list[str] = Field(default_factory=list)


class CrossSectionComparison(BaseModel):
    quantity: Literal["sigma", "fiducial_sigma"]
    run_pb: float
    run_err_pb: float
    reference_pb: float
    reference_err_pb: float
    pull: float
    p_value: float
    skipped: bool
    compatible: bool


class ComparisonResult(BaseModel):
    """Every histogram and cross section of RUN against REFERENCE, and the verdict."""

    run: str
    reference: str
    reference_kind: Literal["run", "golden", "hepdata", "yoda", "table"]
    mode: Literal["absolute", "shape", "normalised"]
    histograms: list[HistogramComparison]
    cross_sections: list[CrossSectionComparison]
    not_in_reference: list[str] = Field(
        default_factory=list, description="Run histograms the reference does not have (allowed for published data)."
    )
    notes: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def compatible(self) -> bool:
        return all(h.compatible for h in self.histograms) and all(s.compatible for s in self.cross_sections)
