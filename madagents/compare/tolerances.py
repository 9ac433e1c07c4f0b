"""Per-histogram tolerances of a comparison, from a small YAML file.

```yaml
default: {min_p_value: 0.01}          # every histogram and σ unless named below
histograms:
  m_mumu: {min_p_value: 0.001, max_abs_pull: 5, min_ks_p_value: 0.001}
  pt_mu: {reference: /ATLAS_2019_I1234/d01-x01-y01}   # its name in the reference
  n_jets: {skip: true}
sigma: {min_p_value: 0.05}
fiducial_sigma: {skip: true}
```
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from madagents.errors import UserInputError

__all__ = ["DEFAULT_MIN_P_VALUE", "Tolerance", "Tolerances", "load_tolerances"]

DEFAULT_MIN_P_VALUE = 0.01
"""Two statistically equal samples fail one histogram in a hundred: tight enough to catch a 3 GeV mass shift at
2000 events, loose enough that a suite of a few dozen histograms rarely flakes (set it lower for large suites)."""


class Tolerance(BaseModel):
    """When one histogram or cross section counts as compatible."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_p_value: float = Field(
        default=DEFAULT_MIN_P_VALUE, ge=0, le=1, description="Incompatible below this χ² (or σ pull) p-value."
    )
    max_abs_pull: float | None = Field(default=None, gt=0, description="Also incompatible if any bin pulls further.")
    min_ks_p_value: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Also incompatible below this KS p-value (where both sides kept unbinned values); unset: KS is "
        "reported, never failing.",
    )
    skip: bool = Field(default=False, description="Report it, but never fail on it.")
    reference: str | None = Field(default=None, description="The histogram's name in the reference, if different.")


class Tolerances(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Tolerance = Field(default_factory=Tolerance)
    histograms: dict[str, Tolerance] = Field(default_factory=dict)
    sigma: Tolerance | None = None
    fiducial_sigma: Tolerance | None = None

    def for_histogram(self, name: str) -> Tolerance:
        return self.histograms.get(name, self.default)

    def for_sigma(self, fiducial: bool) -> Tolerance:
        chosen = self.fiducial_sigma if fiducial else self.sigma
        return chosen or self.default


def load_tolerances(path: Path | None) -> Tolerances:
    if path is None:
        return Tolerances()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Tolerances.model_validate(data or {})
    except OSError as exc:
        msg = f"cannot read the tolerances file {path}: {exc.strerror or exc}"
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        msg = f"the tolerances file {path} is not YAML ({str(exc).splitlines()[0]})"
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        msg = (
            f"the tolerances file {path}: {where}: {first['msg']}; it takes default, histograms (by name), sigma "
            "and fiducial_sigma, each with min_p_value, max_abs_pull, min_ks_p_value, skip, reference"
        )
    raise UserInputError(msg)
