"""A madagents reference table: numbers with uncertainties typed in from a paper.

```yaml
histograms:
  m_mumu:
    edges: [60, 80, 100, 120]
    values: [0.21, 5.1, 0.11]
    errors: [0.02, 0.1, 0.01]          # or errors_up and errors_down
    units: pb/GeV                      # dσ/dx (ab, fb, pb, nb per x unit); omit for shapes
sigma_pb: [1950, 40]                   # value, uncertainty (optional)
fiducial_sigma_pb: [740, 20]
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from madagents.compare.histogram import CROSS_SECTION_UNITS, Binned, CrossSection
from madagents.compare.sample import Sample
from madagents.errors import UserInputError

__all__ = ["is_reference_table", "read_table"]


class _TableHistogram(BaseModel):
    model_config = ConfigDict(extra="forbid")

    edges: list[float] = Field(min_length=2)
    values: list[float]
    errors: list[float] | None = None
    errors_up: list[float] | None = None
    errors_down: list[float] | None = None
    units: str | None = None

    @model_validator(mode="after")
    def _lengths(self) -> _TableHistogram:
        bins = len(self.edges) - 1
        sides = [self.errors] if self.errors is not None else [self.errors_up, self.errors_down]
        if any(side is None for side in sides):
            msg = "give errors, or both errors_up and errors_down"
            raise ValueError(msg)
        if any(len(side or []) != bins for side in sides) or len(self.values) != bins:
            msg = f"{len(self.edges)} edges make {bins} bins: values and errors need {bins} numbers each"
            raise ValueError(msg)
        if any(high <= low for low, high in zip(self.edges, self.edges[1:], strict=False)):
            msg = "edges must increase"
            raise ValueError(msg)
        return self


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")

    histograms: dict[str, _TableHistogram] = Field(default_factory=dict)
    sigma_pb: tuple[float, float] | None = None
    fiducial_sigma_pb: tuple[float, float] | None = None


def is_reference_table(document: Any) -> bool:
    return isinstance(document, dict) and bool({"histograms", "sigma_pb", "fiducial_sigma_pb"} & set(document))


def read_table(path: Path, document: Any) -> Sample:
    try:
        table = _Table.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        msg = f"reference table {path}: {where}: {first['msg']}"
        raise UserInputError(msg) from None
    histograms = {name: _binned(name, spec) for name, spec in table.histograms.items()}
    return Sample(
        source="table",
        path=str(path),
        histograms=histograms,
        sigma=CrossSection(*table.sigma_pb) if table.sigma_pb else None,
        fiducial_sigma=CrossSection(*table.fiducial_sigma_pb) if table.fiducial_sigma_pb else None,
    )


def _binned(name: str, spec: _TableHistogram) -> Binned:
    def array(numbers: list[float] | None) -> np.typing.NDArray[np.float64]:
        return np.abs(np.asarray(numbers, dtype=np.float64))

    up = array(spec.errors if spec.errors is not None else spec.errors_up)
    down = array(spec.errors if spec.errors is not None else spec.errors_down)
    edges, values = np.asarray(spec.edges, dtype=np.float64), np.asarray(spec.values, dtype=np.float64)
    scale = CROSS_SECTION_UNITS.get((spec.units or "").strip().lower().split("/")[0])
    if scale is None:  # no cross-section unit: a shape, compared with --shape-only or --normalised
        return Binned(name, edges, values, down, up, "data")
    return Binned(name, edges, values * scale, down * scale, up * scale, "data", None, "pb")
