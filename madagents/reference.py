"""A paper's numbers as a workflow check: the workflow names the file, the plan carries its values.

The plan holds the reference histograms themselves (not just the file name), so ``plan.json`` — hashed in
provenance — is all a later ``madagents validate`` needs to recompute the agreement.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from madagents.errors import UserInputError

if TYPE_CHECKING:
    from madagents_tools.analysis.analysis_spec import HistogramSpec

__all__ = ["ReferenceCheck", "ReferenceExpectation", "ReferenceHistogram", "check_reference"]


class ReferenceCheck(BaseModel):
    """Published data (a paper's table) the run must agree with: the report overlays it with χ² and the reviewer's
    verdict says whether the run agrees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(
        description="A HEPData table (or submission.yaml), a YODA file, or a madagents reference table (YAML with "
        "histograms: NAME: {edges, values, errors}).",
        examples=["references/ATLAS_Zmumu_mll.yaml"],
    )
    histograms: dict[str, str] = Field(
        default_factory=dict,
        description="Run histogram → its name in the file; unnamed histograms are matched by name.",
        examples=[{"m_mumu": "D(SIG)/DM"}],
    )
    mode: Literal["absolute", "shape", "normalised"] = Field(
        default="shape",
        description="shape (the default: a LO generator misses the paper's K-factor), normalised, or absolute "
        "(dσ/dx in pb; needs units in the file).",
    )
    min_p_value: float = Field(default=0.01, ge=0, le=1, description="The run disagrees below this χ² p-value.")

    @field_validator("file")
    @classmethod
    def _beside_the_workflow(cls, file: str, info: ValidationInfo) -> str:
        """A relative path names a file beside the workflow file (the loader gives its folder as context)."""
        folder = (info.context or {}).get("folder")
        return str(Path(folder) / file) if folder is not None and not Path(file).is_absolute() else file


def check_reference(check: ReferenceCheck | None, specs: Sequence[HistogramSpec]) -> None:
    """Read the reference now, so that a missing file, name or other bins is an input error before anything runs.

    Raises:
        ValueError: what is wrong (a workflow validator turns it into the workflow's input error).
    """
    if check is None:
        return
    from madagents.compare.reference_gate import reference_expectation  # noqa: PLC0415 - numpy, scipy

    try:
        reference_expectation(check, list(specs))
    except UserInputError as exc:
        raise ValueError(str(exc)) from None


class ReferenceHistogram(BaseModel):
    histogram: str = Field(description="The run's histogram.")
    reference_name: str
    edges: list[float]
    values: list[float]
    err_down: list[float]
    err_up: list[float]
    units: str | None = None


class ReferenceExpectation(BaseModel):
    """The reference data a plan's histograms are checked against."""

    file: str
    sha256: str = Field(description="Of the file when the plan was made.")
    mode: Literal["absolute", "shape", "normalised"]
    min_p_value: float
    histograms: list[ReferenceHistogram]
