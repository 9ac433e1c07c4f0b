"""Where a run's tools ran: recorded in provenance.json, so reproduce.sh runs them there again."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

__all__ = ["TOOL_LOCATION_VARS", "DockerLimits", "ToolHost", "tool_locations"]

TOOL_LOCATION_VARS = (
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "MG5_PATH",
    "DELPHES_PATH",
    "MADAGENTS_MODELS_DIR",
    "LHAPDF_DATA_PATH",
)
"""Host variables that say where the tools and the programs they call are (a subset of the local allow-list)."""


class DockerLimits(BaseModel):
    """Resources one tool container may use."""

    cpus: float = Field(default=2.0, gt=0, description="CPU cores (the Pythia8 tool writes HepMC3 on a second one).")
    memory_mb: int = Field(default=4096, gt=0, description="Memory limit; exceeding it OOM-kills the tool.")
    pids: int = Field(default=256, gt=0, description="Processes and threads; stops fork bombs.")
    tmp_mb: int = Field(default=512, gt=0, description="Size of the tmpfs mounted at /tmp.")


class ToolHost(BaseModel):
    """What ran a run's tools: an interpreter of this machine, or an image (with its container policy)."""

    backend: str = Field(description="The sandbox backend: local, docker or dask.")
    python: str = Field(
        description="The interpreter that ran the tools (local, dask) or the madagents that started the containers "
        "(docker); reproduce.sh falls back to it where there is no Docker."
    )
    environment: dict[str, str] = Field(
        default_factory=dict,
        description="The TOOL_LOCATION_VARS of the interpreter (the tools saw them under local and dask), set again "
        "by reproduce.sh when it runs the steps with that interpreter.",
    )
    image: str | None = Field(default=None, description="The image's name (docker), to rebuild or name it by.")
    image_kind: str | None = Field(default=None, description="hep, hep-full or ml (docker).")
    image_id: str | None = Field(default=None, description="The image's id (docker): exactly what ran.")
    docker_cli: str | None = Field(default=None, description="The docker command of the run's machine, if it had one.")
    limits: DockerLimits | None = Field(default=None, description="The containers' resource limits (docker).")
    models_dir: str | None = Field(default=None, description="The user's UFO models, mounted read-only (docker).")
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="The wall-clock limit of one tool call, which reproduce.sh applies to each step (None: a run made "
        "before madagents recorded it; its script has no limit).",
    )


def tool_locations() -> dict[str, str]:
    """The TOOL_LOCATION_VARS set in this process's environment."""
    return {name: os.environ[name] for name in TOOL_LOCATION_VARS if name in os.environ}
