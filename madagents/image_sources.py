"""Source tarballs of the hep-full image: local ones (``--source DIR``) or official downloads pinned by sha256.

MadGraph5_aMC@NLO and Delphes are on no package registry, so the image is built from their release tarballs. A local
directory is taken as it is (every sha256 is printed and recorded in the image); a download must match its pin, and
a file that does not is deleted before anything is built from it.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OFFICIAL", "Pinned", "SourceSet", "download_official", "find_sources", "sha256_file"]


@dataclass(frozen=True, slots=True)
class Pinned:
    """An official release tarball and the sha256 it must have."""

    name: str
    """File name, matching the pattern build.sh looks for."""
    url: str
    sha256: str


# Pins as recorded in Spack's recipes (spack-packages: madgraph5amc, delphes). MG5 3.5.7, the version the vendored
# tarball and the test fixtures hold, has no independently recorded sha256 there; 3.5.9 is the 3.5 release that has.
OFFICIAL: tuple[Pinned, ...] = (
    Pinned(
        "MG5_aMC_v3.5.9.tar.gz",
        "https://launchpad.net/mg5amcnlo/3.0/3.5.x/+download/MG5_aMC_v3.5.9.tar.gz",
        "1e707fcd18f5b967c3f6220b3e5538622c93472376cae6666c56d0f2c2dd4b92",
    ),
    Pinned(
        "Delphes-3.5.0.tar.gz",
        "http://cp3.irmp.ucl.ac.be/downloads/Delphes-3.5.0.tar.gz",
        "37685b945ef43aab09217d70b0ac7f9c5d3c2c27cf3b3f8d64c4e6eb5c5fd9aa",
    ),
)
MG5_PATTERN = "MG5_aMC_v*.tar.gz"
DELPHES_PATTERNS = ("delphes-*.tar.gz", "Delphes-*.tar.gz")
UFO_PATTERN = "*_UFO.tar.gz"


@dataclass(frozen=True, slots=True)
class SourceSet:
    """The tarballs one hep-full build is made from."""

    mg5: Path
    delphes: Path
    ufos: tuple[Path, ...] = ()

    def files(self) -> tuple[Path, ...]:
        return (self.mg5, self.delphes, *self.ufos)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_sources(directory: Path) -> SourceSet:
    """Exactly one MG5 and one Delphes tarball in ``directory``, and any ``*_UFO.tar.gz``.

    Raises ``ValueError`` naming what is missing or ambiguous.
    """
    if not directory.is_dir():
        msg = f"--source {directory} is not a directory"
        raise ValueError(msg)

    def one(what: str, patterns: tuple[str, ...]) -> Path:
        found = sorted({path for pattern in patterns for path in directory.glob(pattern) if path.is_file()})
        if len(found) != 1:
            names = ", ".join(path.name for path in found) or "none"
            msg = f"{directory} needs exactly one {what} tarball ({' or '.join(patterns)}); found {names}"
            raise ValueError(msg)
        return found[0]

    ufos = tuple(sorted(path for path in directory.glob(UFO_PATTERN) if path.is_file()))
    return SourceSet(mg5=one("MG5", (MG5_PATTERN,)), delphes=one("Delphes", DELPHES_PATTERNS), ufos=ufos)


def download_official(cache: Path, pins: tuple[Pinned, ...] = OFFICIAL) -> Path:
    """Each pinned tarball in ``cache`` (downloaded when missing or wrong), checked against its sha256.

    Returns ``cache``, a directory ``find_sources`` accepts. Raises ``ValueError`` when a file does not match its
    pin (the file is deleted first) and ``OSError`` when a download fails.
    """
    cache.mkdir(parents=True, exist_ok=True)
    for pin in pins:
        target = cache / pin.name
        if target.is_file() and sha256_file(target) == pin.sha256:
            continue
        partial = target.with_name(target.name + ".part")
        with urllib.request.urlopen(pin.url, timeout=120) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
        actual = sha256_file(partial)
        if actual != pin.sha256:
            partial.unlink()
            msg = f"{pin.name} from {pin.url} has sha256 {actual}, not the pinned {pin.sha256}: refused"
            raise ValueError(msg)
        partial.replace(target)
    return cache
