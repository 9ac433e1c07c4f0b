"""Run settings, read once from the environment (``MADAGENTS_*``) and passed down explicitly."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from madagents.errors import UserInputError
from madagents.llm.budget import Budget
from madagents.llm.client import LLMSettings
from madagents.sandbox.host import DockerLimits

__all__ = ["DaskSettings", "Settings", "environment_settings"]

PREFIX = "MADAGENTS_"


class DaskSettings(BaseModel):
    """The Dask cluster of the dask backend (``--chunks``): an existing scheduler, or a local cluster."""

    scheduler: str | None = Field(default=None, description="Address of a running scheduler, e.g. tcp://host:8786.")
    workers: int = Field(default=2, gt=0, description="Workers of the local cluster started when no scheduler is set.")


class Settings(BaseSettings):
    """Everything a run may be tuned by without editing a workflow."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_nested_delimiter="__", extra="forbid")

    runs_dir: Path = Field(default=Path("runs"), description="Where run directories are created by default.")
    sandbox: Literal["auto", "local", "docker", "dask"] = Field(
        default="auto",
        description="Backend that executes the tools; auto takes docker when a daemon answers; dask runs them on "
        "the workers of a Dask cluster (as the local backend would).",
    )
    dask: DaskSettings = Field(default_factory=DaskSettings, description="Cluster of the dask backend.")
    image: str = Field(default="madagents/hep:latest", description="Image of the docker backend (Pythia8 plans).")
    image_full: str = Field(
        default="madagents/hep-full:latest", description="Image for plans with MG5 or Delphes steps (hep-full)."
    )
    image_ml: str = Field(default="madagents/ml:latest", description="Image for plans with torch steps (ml).")
    docker: DockerLimits = Field(default_factory=DockerLimits, description="Limits of each tool container.")
    models_dir: Path | None = Field(
        default=None,
        description="A directory of UFO models (one subdirectory each) for MG5, besides those of its installation; "
        "mounted read-only into the container, copied into the run before MG5 imports a model from it.",
    )
    mg5_cache: bool = Field(default=True, description="Reuse compiled MG5 process directories between runs.")
    mg5_cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "madagents" / "mg5",
        description="Where compiled MG5 process directories are kept, by the hash of model, processes and MG5.",
    )
    tool_timeout_s: float = Field(default=3600.0, gt=0, description="Wall-clock limit of one tool call.")
    verify_events: int = Field(
        default=1000,
        gt=0,
        description=(
            "The reviewer re-executes reproduce.sh for the first min(N, verify_events) events (of each chunk) and "
            "compares them with the run's, event by event; Pythia8's random stream makes the prefix identical."
        ),
    )
    recursion_limit: int = Field(default=50, gt=0, description="Upper bound on graph steps of one run.")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="Model of each role and its endpoint.")
    budget: Budget = Field(default_factory=Budget, description="Limits of a model-driven run.")
    pilot_events: int = Field(
        default=200,
        gt=0,
        description="Model-driven runs first generate this many events to estimate the cost of a bigger sample.",
    )


def environment_settings() -> Settings:
    """The settings of the ``MADAGENTS_*`` environment, or :class:`UserInputError` naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        parts = [
            f"{PREFIX}{'__'.join(str(part) for part in error['loc']).upper()}={error['input']!r}: {error['msg']}"
            for error in exc.errors()
        ]
    except SettingsError as exc:  # a nested setting given as JSON that does not parse
        field = re.search(r'field "(\w+)"', str(exc))
        names = sorted(name for name in os.environ if field and name.startswith(f"{PREFIX}{field[1].upper()}"))
        parts = [f"{' or '.join(names) or 'a MADAGENTS_ variable'} is not valid JSON ({exc.__cause__ or exc})"]
    msg = f"bad settings in the environment: {'; '.join(parts)}; fix or unset the variable"
    raise UserInputError(msg)
