"""Shared fixtures: the shipped Drell–Yan workflow, and variants of it written to temporary files."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from madagents.sandbox import docker_client
from madagents.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DRELL_YAN = REPO / "workflows" / "drell_yan.yaml"
DRELL_YAN_PYTHIA = [
    "Beams:eCM = 13000",
    "WeakSingleBoson:ffbar2gmZ = on",
    "23:onMode = off",
    "23:onIfMatch = 13 -13",
    "PhaseSpace:mHatMin = 60",
]
"""Pythia8 settings of a small Drell–Yan sample for tool tests (Z/γ* → μμ, m̂ > 60 GeV)."""

WorkflowWriter = Callable[..., Path]


@pytest.fixture
def drell_yan_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DRELL_YAN.read_text())
    return data


@pytest.fixture
def write_workflow(tmp_path: Path, drell_yan_data: dict[str, Any]) -> WorkflowWriter:
    """Write the Drell–Yan workflow with top-level keys replaced (``None`` deletes a key)."""

    def write(name: str = "workflow.yaml", **changes: Any) -> Path:
        data = copy.deepcopy(drell_yan_data)
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        return path

    return write


def _present_image(image: str) -> str:
    """``image`` when the daemon has it; a skip without daemon or image, except in CI, where both must be there."""
    try:
        client = docker_client()
        client.images.get(image)
    except Exception as exc:  # no daemon, or no image
        if os.environ.get("CI"):
            raise
        pytest.skip(f"docker backend unavailable here ({exc}); `make sandbox` starts and builds them")
    return image


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The hep image of the docker backend; skipped without a daemon, except in CI where one must run."""
    return _present_image(Settings().image)


@pytest.fixture(scope="session")
def hep_full_image() -> str:
    """The hep-full image (MG5, Delphes); skipped without a daemon or the image, except in CI."""
    return _present_image(Settings().image_full)


@pytest.fixture(scope="session")
def ml_image() -> str:
    """The ml image (CPU torch); skipped without a daemon or the image, except in CI."""
    return _present_image(Settings().image_ml)
