"""What a sandbox holds, and which versions: run as a script inside an image (``python -c``) or on the host.

Standard library only at the top level: ``madagents doctor`` sends this file's source into images that do not have
madagents installed. Prints one JSON object; a program that is absent is ``null``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["probe"]


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _root() -> str | None:
    # the wheel's version (0.1a12, say) is not ROOT's: ask ROOT itself
    try:
        import ROOT  # noqa: PLC0415

        return str(ROOT.gROOT.GetVersion())
    except ImportError:
        return None


def _torch() -> dict[str, Any] | None:
    if _version("torch") is None:
        return None
    import torch  # noqa: PLC0415

    return {"version": torch.__version__, "cuda": torch.version.cuda}


def _executable(env_name: str, program: str) -> Path | None:
    configured = os.environ.get(env_name)
    if configured:
        path = Path(configured)
        candidates = [path, path / "bin" / program, path / program]
        return next((candidate for candidate in candidates if candidate.is_file()), None)
    found = shutil.which(program)
    return Path(found) if found else None


def _mg5() -> dict[str, Any] | None:
    executable = _executable("MG5_PATH", "mg5_aMC")
    if executable is None:
        return None
    root = executable.resolve().parent.parent
    version = re.search(r"version\s*=\s*(\S+)", _read(root / "VERSION"))
    # the PDF sets MG5 has built in (run_card pdlabel values other than lhapdf), as its own banner module lists them
    allowed = re.search(r"add_param\('pdlabel',[^\n]*allowed=\[([^\]]*)\]", _read(root / "madgraph/various/banner.py"))
    pdfs = re.findall(r"'([^']+)'", allowed[1]) if allowed else []
    return {
        "path": str(root),
        "version": version[1] if version else None,
        "pdfs": [name for name in pdfs if name not in {"lhapdf", "emela"}],
    }


def _delphes() -> dict[str, Any] | None:
    executable = _executable("DELPHES_PATH", "DelphesHepMC3")
    if executable is None:
        return None
    # Delphes prints no version: the hep-full image records its source tarball's name
    sources = re.search(r"[Dd]elphes-([\w.\-]+?)\.tar\.gz", _read(Path("/opt/madagents/sources.sha256")))
    return {"path": str(executable), "version": sources[1] if sources else None}


def _lhapdf() -> str | None:
    config = shutil.which("lhapdf-config")
    if config:
        return subprocess.run([config, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return _version("lhapdf")


def _pythia8_pdfs() -> list[str]:
    """The LHAGrid1 sets shipped with the pythia8mc wheel, usable as ``PDF:pSet = LHAGrid1:<file>``."""
    data = Path(sysconfig.get_paths()["data"]) / "share" / "Pythia8" / "pdfdata"
    return sorted(path.name for path in data.glob("*_0000.dat"))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def probe() -> dict[str, Any]:
    return {
        "pythia8": _version("pythia8mc"),
        "pythia8_pdfs": _pythia8_pdfs(),
        "root": _root(),
        "torch": _torch(),
        "mg5": _mg5(),
        "delphes": _delphes(),
        "lhapdf": _lhapdf(),
    }


if __name__ == "__main__":
    print(json.dumps(probe()))
