"""Files of a run directory read and written without trusting what is in it.

A tool's container (or whoever sent a run directory) may have planted a symbolic link, a device or a huge file
where a result should be. The host therefore reaches a run's files only through :func:`resolve_inside` — a
relative path, no ``..``, no symbolic link on the way, a regular file at the end — and reads JSON and text with a
size bound. The files the host owns are written without following a symbolic link.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TypeVar

from pydantic import BaseModel, ValidationError

from madagents_tools.contract import inside_run_dir

__all__ = [
    "MAX_JSON_BYTES",
    "UnsafePathError",
    "append_line",
    "open_new_for_writing",
    "read_bytes",
    "read_model",
    "read_text",
    "resolve_inside",
    "sha256_inside",
]

MAX_JSON_BYTES = 64 << 20
"""Largest JSON or text file the host reads into memory (results, histograms, plans, reports)."""

ModelT = TypeVar("ModelT", bound=BaseModel)


class UnsafePathError(ValueError):
    """A path of a run directory that the host refuses to read: the message says which and why."""


def resolve_inside(root: Path, relative: str) -> Path:
    """``root/relative`` after checking that it is a regular file reached without a symbolic link.

    Raises ``UnsafePathError`` for an absolute path, ``..``, a symbolic link, a device, a directory or a missing file.
    """
    try:
        inside_run_dir(relative)
    except ValueError as exc:
        raise UnsafePathError(str(exc)) from None
    current = root
    for part in PurePosixPath(relative).parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            msg = f"{relative} does not exist in {root}"
            raise UnsafePathError(msg) from None
        if stat.S_ISLNK(mode):
            msg = f"{relative} is or passes through a symbolic link ({current.relative_to(root)}); refused"
            raise UnsafePathError(msg)
    if not stat.S_ISREG(mode):
        msg = f"{relative} is not a regular file; refused"
        raise UnsafePathError(msg)
    return current


def _open_inside(root: Path, relative: str) -> BinaryIO:
    # O_NONBLOCK: a FIFO swapped in after the check must not hang the host
    path = resolve_inside(root, relative)
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb")


def read_bytes(root: Path, relative: str, limit: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of a run's file, at most ``limit``; a larger file is an ``UnsafePathError``."""
    with _open_inside(root, relative) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        msg = f"{relative} holds more than the {limit} bytes the host reads; refused"
        raise UnsafePathError(msg)
    return data


def read_text(root: Path, relative: str, limit: int = MAX_JSON_BYTES) -> str:
    """The text of a run's file, at most ``limit`` bytes; a larger file is an ``UnsafePathError``."""
    return read_bytes(root, relative, limit).decode(errors="replace")


def sha256_inside(root: Path, relative: str) -> str:
    """The sha256 of a run's regular file of any size, read in blocks without following a symbolic link."""
    digest = hashlib.sha256()
    with _open_inside(root, relative) as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_model(root: Path, relative: str, model: type[ModelT]) -> ModelT:
    """A pydantic model from a run's JSON file; an unsafe, missing or invalid file is an ``UnsafePathError``."""
    text = read_text(root, relative)
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        first = str(exc).splitlines()
        msg = f"{relative} is not a valid {model.__name__}: {' '.join(first[:3])}"
        raise UnsafePathError(msg) from None


def open_new_for_writing(path: Path) -> int:
    """A descriptor of a fresh, empty ``path``; whatever was there (a planted symbolic link too) is removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # unlink removes a link itself, never its target
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)


def append_line(path: Path, line: str) -> None:
    """Append one line to a host-owned log without following a symbolic link."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "a") as stream:
        stream.write(line + "\n")
