"""Regression specs: what the pytest plugin runs (a workflow, a cassette or an existing run) and its golden.

```yaml
# regression_drell_yan.yaml (paths relative to this file)
regressions:
  - name: drell_yan
    workflow: ../workflows/drell_yan.yaml
    events: 1000
    seed: 1
    golden: goldens/drell_yan
    tolerances: tolerances.yaml
    markers: [slow]
```
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from madagents.errors import RunFailedError, UserInputError

__all__ = ["RegressionFile", "RegressionSpec", "load_regressions", "produce_run"]


class RegressionSpec(BaseModel):
    """One regression test: produce a run, compare it with the golden."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="The test's name.")
    workflow: Path | None = Field(default=None, description="Run this workflow (no model involved).")
    cassette: Path | None = Field(default=None, description="Replay this cassette; its last run is compared.")
    run: Path | None = Field(default=None, description="Compare this existing run directory (made by a CI step).")
    events: int | None = Field(default=None, gt=0, description="workflow: override its number of events.")
    seed: int | None = Field(default=None, ge=0, description="workflow: override its run seed.")
    golden: Path = Field(description="The golden directory (written by --madagents-update-golden).")
    tolerances: Path | None = Field(default=None, description="The tolerances YAML (madagents compare).")
    mode: Literal["absolute", "shape", "normalised"] = "absolute"
    markers: list[str] = Field(default_factory=list, description="pytest markers, e.g. [slow].")

    @model_validator(mode="after")
    def _one_source(self) -> RegressionSpec:
        if sum(source is not None for source in (self.workflow, self.cassette, self.run)) != 1:
            msg = f"regression {self.name}: give exactly one of workflow, cassette, run"
            raise ValueError(msg)
        return self

    def relative_to(self, base: Path) -> RegressionSpec:
        """The spec with its paths resolved against the spec file's directory."""
        fields = ("workflow", "cassette", "run", "golden", "tolerances")
        return self.model_copy(
            update={key: base / value for key in fields if (value := getattr(self, key)) is not None}
        )


class RegressionFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    regressions: list[RegressionSpec]


def load_regressions(path: Path) -> list[RegressionSpec]:
    try:
        specs = RegressionFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))).regressions
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        msg = f"cannot read the regression spec {path}: {exc}"
        raise UserInputError(msg) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        msg = f"regression spec {path}: {where}: {first['msg']}"
        raise UserInputError(msg) from None
    return [spec.relative_to(path.parent) for spec in specs]


def produce_run(spec: RegressionSpec, where: Path, sandbox: str | None) -> Path:
    """The run directory the spec compares: made from its workflow or cassette in ``where``, or its ``run``.

    A run that fails a gate is still compared (its histograms are what the golden pins); a replay whose model turns
    or outcome differ from the cassette raises :class:`RunFailedError`.
    """
    if spec.run is not None:
        return spec.run
    from rich.console import Console  # noqa: PLC0415 - the runner stack loads only for runs

    from madagents.context import NullReporter  # noqa: PLC0415
    from madagents.runner import start_run  # noqa: PLC0415
    from madagents.settings import environment_settings  # noqa: PLC0415

    settings = environment_settings()
    if sandbox is not None:
        settings = settings.model_copy(update={"sandbox": sandbox})
    if spec.workflow is not None:
        from madagents.workflow import load_any_workflow  # noqa: PLC0415

        workflow = load_any_workflow(spec.workflow, events=spec.events, seed=spec.seed, chunks=None)
        with contextlib.suppress(RunFailedError):
            start_run(workflow, where / "run", settings, ["pytest", spec.name])
        return where / "run"
    from madagents.session_cli import run_replay  # noqa: PLC0415

    assert spec.cassette is not None  # the validator allows one source
    quiet = Console(file=io.StringIO())
    differences = run_replay(spec.cassette, where / "replay", settings, NullReporter(), quiet)
    if differences:
        msg = f"replay of {spec.cassette} differs from the cassette:\n" + "\n".join(differences)
        raise RunFailedError(msg)
    runs = sorted((where / "replay").glob("runs/*")) or [where / "replay" / "run"]
    return runs[-1]
