"""Sandbox images: built locally from ``containers/`` (no registry), checked against the project's tools.

An image carries labels with the madagents version and a hash of ``tools/``; an image whose hash differs from the
tools on this machine would run other code than the local backend, so it counts as stale and is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["CONTAINERS_DIR", "IMAGES", "ImageStatus", "build_image", "image_status", "tools_sha256"]

REPO = Path(__file__).resolve().parent.parent
CONTAINERS_DIR = REPO / "containers"
TOOLS_DIR = REPO / "tools"
IMAGES: dict[str, str] = {
    "hep": "offline HEP stack from PyPI (Pythia8, ROOT, uproot, hist, ...) and the project's tools",
    "hep-full": "MadGraph5_aMC@NLO, Pythia8, Delphes, LHAPDF via MG5's installer: needs internet, not buildable here",
}


class ImageStatus(BaseModel):
    image: str
    present: bool
    version: str | None = None
    tools_current: bool = False
    """The image's tools/ hash equals the hash of tools/ here."""

    @property
    def usable(self) -> bool:
        return self.present and self.tools_current


def tools_sha256(tools_dir: Path = TOOLS_DIR) -> str:
    """``sha256sum`` of each ``tools/*.py`` (sorted by path), hashed again: what build.sh puts in the label."""
    lines = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  tools/{path.name}\n"
        for path in sorted(tools_dir.glob("*.py"))
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def image_status(client: Any, image: str) -> ImageStatus:
    import docker  # noqa: PLC0415 - only the docker backend needs the SDK

    try:
        labels = client.images.get(image).labels or {}
    except docker.errors.ImageNotFound:
        return ImageStatus(image=image, present=False)
    return ImageStatus(
        image=image,
        present=True,
        version=labels.get("org.madagents.version"),
        tools_current=labels.get("org.madagents.tools_sha256") == tools_sha256(),
    )


def build_image(name: str, on_line: Callable[[str], None]) -> None:
    """Run ``containers/<name>/build.sh`` (it builds the base image first when missing).

    Raises ``RuntimeError`` with the last lines of the build output when it fails.
    """
    script = CONTAINERS_DIR / name / "build.sh"
    if not script.is_file():
        msg = f"the {name} image ({IMAGES[name]}) is not built by madagents; see containers/{name}/README.md"
        raise RuntimeError(msg)
    # the context manager closes the pipe, which a bare Popen leaves to the garbage collector (ResourceWarning)
    with subprocess.Popen(
        ["bash", str(script)],
        cwd=REPO,
        env={**_build_env(), "MADAGENTS_VERSION": metadata.version("madagents"), "TOOLS_SHA256": tools_sha256()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None  # stdout=PIPE
        tail: list[str] = []
        for line in process.stdout:
            on_line(line.rstrip("\n"))
            tail = [*tail[-19:], line]
    if process.returncode != 0:
        msg = f"building the {name} image failed (exit code {process.returncode}):\n{''.join(tail)}"
        raise RuntimeError(msg)


def _build_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "DOCKER_HOST", "DEBIAN_MIRROR", "PIP_INDEX_URL", "PIP_CERT", "CA_BUNDLE")
    return {key: os.environ[key] for key in keep if key in os.environ}
