"""Sandboxes that execute tools next to a run directory."""

from __future__ import annotations

from pathlib import Path

from madagents.sandbox.base import ExecResult, Sandbox, SandboxUnavailableError
from madagents.sandbox.docker import DockerLimits, DockerSandbox, docker_client
from madagents.sandbox.host import ToolHost
from madagents.sandbox.local import LocalSandbox

__all__ = [
    "BACKENDS",
    "DockerLimits",
    "DockerSandbox",
    "ExecResult",
    "LocalSandbox",
    "Sandbox",
    "SandboxUnavailableError",
    "ToolHost",
    "docker_client",
    "make_sandbox",
    "resolve_backend",
]

BACKENDS = ("local", "docker", "dask")


def resolve_backend(requested: str) -> str:
    """``auto`` becomes docker when a daemon answers, local otherwise.

    Raises ``SandboxUnavailableError`` (saying how to start one) when docker is asked for and no daemon answers.
    """
    if requested in ("local", "dask"):
        return requested  # dask is checked when its cluster starts (ensure_ready), with the fix in the message
    try:
        docker_client()
    except RuntimeError as exc:
        if requested == "docker":
            raise SandboxUnavailableError(str(exc)) from None
        return "local"
    return "docker"


def make_sandbox(
    backend: str,
    workdir: Path,
    image: str,
    limits: DockerLimits,
    scheduler: str | None = None,
    workers: int = 2,
    models_dir: Path | None = None,
) -> Sandbox:
    """The sandbox for a resolved ``backend``; raises ``ValueError`` for a name that is not a backend."""
    if backend == "local":
        return LocalSandbox(workdir, warm_start=True)
    if backend == "docker":
        return DockerSandbox(workdir, image, limits, models_dir=models_dir)
    if backend == "dask":
        from madagents.sandbox.dask import DaskSandbox  # noqa: PLC0415 - dask loads slowly, only this backend needs it

        return DaskSandbox(workdir, scheduler, workers)
    msg = f"unknown sandbox backend {backend!r}; available: {', '.join(BACKENDS)}"
    raise ValueError(msg)
