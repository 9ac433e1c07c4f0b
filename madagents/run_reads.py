"""Bounded reads of a received run's binary files and histograms, on top of :mod:`madagents.safe_files`.

Whatever a run directory holds is data written by someone else: each read reaches a regular file inside it
without a symbolic link, and reads at most a bounded number of bytes, so a planted ``/dev/zero`` or a huge file
is a refused read (an ``UnsafePathError``, a ``ValueError``) rather than a hung or crashed reviewer.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from madagents.safe_files import MAX_JSON_BYTES, UnsafePathError, read_text, resolve_inside

__all__ = ["load_run_hist", "read_bytes", "sha256_inside"]


def sha256_inside(root: Path, relative: str) -> str:
    """The sha256 of a run's regular file, opened without following a symbolic link."""
    path = resolve_inside(root, relative)
    digest = hashlib.sha256()
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_bytes(root: Path, relative: str, limit: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of a run's file (a PNG), at most ``limit``; a larger or unsafe file is an ``UnsafePathError``."""
    path = resolve_inside(root, relative)
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        msg = f"{relative} holds more than the {limit} bytes the host reads; refused"
        raise UnsafePathError(msg)
    return data


def load_run_hist(root: Path, relative: str) -> Any:
    """A ``hist.Hist`` from a run's UHI JSON file; unreadable or invalid is a ``ValueError`` naming the file."""
    import hist  # noqa: PLC0415 - heavy, only needed here
    import uhi.io.json  # noqa: PLC0415

    text = read_text(root, relative)
    try:
        return hist.Hist(json.loads(text, object_hook=uhi.io.json.object_hook))
    except Exception as exc:  # whatever a doctored file makes hist raise, the file is unusable
        msg = f"{relative} is not a UHI JSON histogram ({type(exc).__name__}: {exc})"
        raise ValueError(msg) from None
