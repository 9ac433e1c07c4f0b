"""Sandboxes that execute tools next to a run directory."""

from __future__ import annotations

from pathlib import Path

from madagents.sandbox.base import ExecResult, Sandbox
from madagents.sandbox.local import LocalSandbox

__all__ = ["ExecResult", "LocalSandbox", "Sandbox", "make_sandbox"]


def make_sandbox(backend: str, workdir: Path) -> Sandbox:
    """The sandbox for ``backend``; raises ``ValueError`` for a backend this installation does not have."""
    if backend == "local":
        return LocalSandbox(workdir)
    msg = f"unknown sandbox backend {backend!r}; available: local"
    raise ValueError(msg)
