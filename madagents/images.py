"""Sandbox images: built locally from ``containers/`` (no registry), checked against the project's tools.

An image carries labels with the madagents version and a hash of ``tools/``; an image whose hash differs from the
tools on this machine would run other code than the local backend, so it counts as stale and is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from madagents.image_sources import download_official, find_sources, sha256_file

if TYPE_CHECKING:
    from madagents.settings import Settings

__all__ = [
    "CONTAINERS_DIR",
    "IMAGES",
    "ImageStatus",
    "build_image",
    "image_for",
    "image_kind",
    "image_status",
    "tools_sha256",
]

REPO = Path(__file__).resolve().parent.parent
CONTAINERS_DIR = REPO / "containers"
TOOLS_DIR = REPO / "tools"
IMAGES: dict[str, str] = {
    "hep": "offline HEP stack from PyPI (Pythia8, ROOT, uproot, hist, ...) and the project's tools",
    "hep-full": "the hep stack plus MadGraph5_aMC@NLO and Delphes built from their release tarballs",
    "ml": "the hep stack plus CPU torch, ufoamp and ufo-sm for the ML tools",
}
ImageKind = Literal["hep", "hep-full", "ml"]
# What a plan may need, by tool, package or program name. The detector tool is not here: with the parametric
# backend it runs in hep; a plan that runs Delphes names "delphes".
FULL_NEEDS = frozenset({"mg5", "mg5_aMC", "mg5_generate", "madgraph", "delphes", "DelphesHepMC3"})
ML_NEEDS = frozenset({"torch", "ufoamp", "ufo-sm", "amplitude_surrogate", "cfm_generator", "classifier_test"})


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
    """``sha256sum`` of each ``tools/**/*.py`` (sorted bytewise), hashed again: build.sh's label."""
    paths = sorted((path.relative_to(tools_dir).as_posix(), path) for path in tools_dir.rglob("*.py"))
    lines = "".join(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  tools/{name}\n" for name, path in paths)
    return hashlib.sha256(lines.encode()).hexdigest()


def image_kind(needs: Iterable[str]) -> ImageKind:
    """The image that holds what a plan needs: hep for Pythia8 alone, hep-full for MG5 or Delphes, ml for torch.

    Raises ``ValueError`` when a plan needs both: no image holds MG5 and torch together.
    """
    wanted = set(needs)
    full, ml = sorted(wanted & FULL_NEEDS), sorted(wanted & ML_NEEDS)
    if full and ml:
        msg = f"no sandbox image holds both {', '.join(full)} and {', '.join(ml)}: run those steps in separate plans"
        raise ValueError(msg)
    return "hep-full" if full else "ml" if ml else "hep"


def image_for(needs: Iterable[str], settings: Settings) -> str:
    """The image name (from the settings) for a plan's needs; see :func:`image_kind`."""
    names: dict[ImageKind, str] = {"hep": settings.image, "hep-full": settings.image_full, "ml": settings.image_ml}
    return names[image_kind(needs)]


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


def build_image(
    name: str, on_line: Callable[[str], None], source: Path | None = None, *, no_cache: bool = False
) -> None:
    """Run ``containers/<name>/build.sh`` (it builds the base and hep images first when missing).

    ``no_cache`` rebuilds every layer of this image; the images it starts from keep theirs.

    For hep-full, ``source`` is a directory of release tarballs; without it the official releases are downloaded
    (pinned by sha256) into the user's cache. Raises ``RuntimeError`` with the last lines of the build output when
    the build fails, ``ValueError`` when the sources are missing or do not match their pins.
    """
    script = CONTAINERS_DIR / name / "build.sh"
    if not script.is_file():
        msg = f"the {name} image ({IMAGES[name]}) has no build script; see containers/README.md"
        raise RuntimeError(msg)
    args = ["bash", str(script)]
    if name == "hep-full":
        args += ["--source", str(_hep_full_sources(source, on_line))]
    elif source is not None:
        msg = f"--source is for hep-full; the {name} image is built from PyPI packages"
        raise ValueError(msg)
    if no_cache:
        args.append("--no-cache")
    # the context manager closes the pipe, which a bare Popen leaves to the garbage collector (ResourceWarning)
    with subprocess.Popen(
        args,
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


def _hep_full_sources(source: Path | None, on_line: Callable[[str], None]) -> Path:
    if source is None:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "madagents" / "sources"
        on_line(f"downloading the official MG5 and Delphes releases into {cache} (pinned by sha256)")
        source = download_official(cache)
    sources = find_sources(source)
    for path in sources.files():
        on_line(f"source {path.name} sha256 {sha256_file(path)}")
    return source.resolve()


def _build_env() -> dict[str, str]:
    keep = (
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "DOCKER_HOST",
        "DEBIAN_MIRROR",
        "PIP_INDEX_URL",
        "PIP_CERT",
        "CA_BUNDLE",
        "TORCH_WHEEL",
        "PIP_CONFIG_FILE",
        "PIP_FIND_LINKS",
    )
    return {key: os.environ[key] for key in keep if key in os.environ}
