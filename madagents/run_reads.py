"""Histograms of a run read as untrusted data: through :mod:`madagents.safe_files`, parsed by one function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from madagents.safe_files import read_text

__all__ = ["hist_from_json", "load_run_hist"]


def hist_from_json(text: str, name: str) -> Any:
    """A ``hist.Hist`` from UHI JSON text; invalid is a ``ValueError`` naming ``name``."""
    import hist  # noqa: PLC0415 - heavy, only needed here
    import uhi.io.json  # noqa: PLC0415

    try:
        return hist.Hist(json.loads(text, object_hook=uhi.io.json.object_hook))
    except Exception as exc:  # whatever a doctored file makes hist raise, the file is unusable
        msg = f"{name} is not a UHI JSON histogram ({type(exc).__name__}: {exc})"
        raise ValueError(msg) from None


def load_run_hist(root: Path, relative: str) -> Any:
    """A ``hist.Hist`` from a run's UHI JSON file, read bounded and without following links."""
    return hist_from_json(read_text(root, relative), relative)
