"""Docker backend: every tool call runs in a fresh, locked-down container of the hep image.

Policy (ARCHITECTURE.md, "Sandbox policy"): no network, a non-root user with no capabilities, a read-only root
filesystem with a tmpfs /tmp, only the run directory mounted read-write, CPU / memory / pids limits, a wall-clock
timeout that kills the container, and an environment built from an allow-list — nothing of the host leaks in.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import threading
import time
from pathlib import Path
from typing import Any

import docker
from pydantic import BaseModel, Field

from madagents.sandbox.base import ExecResult, OutputHandler, OutputLog, Sandbox, SandboxUnavailableError

__all__ = ["CONTAINER_WORKDIR", "DockerLimits", "DockerSandbox", "docker_client"]

CONTAINER_WORKDIR = "/work"
SANDBOX_UID = 1000
"""The image's unprivileged user; a root host hands the run directory to it."""
CONTAINER_ENV = {
    "HOME": "/tmp",
    "MPLCONFIGDIR": "/tmp/matplotlib",
    "PYTHONUNBUFFERED": "1",
    "LANG": "C.UTF-8",
}
"""The whole environment of a tool container: nothing is copied from the host."""


class DockerLimits(BaseModel):
    """Resources one tool container may use."""

    cpus: float = Field(default=2.0, gt=0, description="CPU cores (the Pythia8 tool writes HepMC3 on a second one).")
    memory_mb: int = Field(default=4096, gt=0, description="Memory limit; exceeding it OOM-kills the tool.")
    pids: int = Field(default=256, gt=0, description="Processes and threads; stops fork bombs.")
    tmp_mb: int = Field(default=512, gt=0, description="Size of the tmpfs mounted at /tmp.")


def docker_client() -> Any:
    """A client of the local daemon; raises ``RuntimeError`` saying how to start one."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        msg = (
            f"no Docker daemon is reachable ({exc}); start one (containers/install-docker.sh installs and starts "
            "dockerd) or choose --sandbox local"
        )
        raise RuntimeError(msg) from None
    return client


class DockerSandbox(Sandbox):
    name = "docker"
    python = "python"

    def __init__(self, workdir: Path, image: str, limits: DockerLimits, client: Any | None = None) -> None:
        super().__init__(workdir)
        self.image = image
        self.limits = limits
        self.client = client if client is not None else docker_client()

    def run(
        self,
        cmd: list[str],
        *,
        timeout_s: float,
        log_path: str,
        cwd: str = ".",
        on_line: OutputHandler | None = None,
    ) -> ExecResult:
        start = time.monotonic()
        with OutputLog(self.workdir / log_path, on_line) as output:
            user = self._hand_over_workdir()  # after OutputLog made the log's directory, which the tool may use
            try:
                container = self.client.containers.run(self.image, cmd, detach=True, user=user, **self._policy(cwd))
            except docker.errors.DockerException as exc:
                output.line(f"[madagents] the container could not start: {exc}")
                return ExecResult(
                    exit_code=-1, timed_out=False, seconds=time.monotonic() - start, output_tail=output.tail()
                )
            expired = threading.Event()
            timer = threading.Timer(timeout_s, _kill, args=(container, expired))
            timer.start()
            try:
                _follow(container, output)
                exit_code = int(container.wait()["StatusCode"])
                container.reload()
                oom = bool(container.attrs["State"].get("OOMKilled"))
            finally:
                timer.cancel()
                container.remove(force=True)
            if oom:
                output.line(f"[madagents] killed: the tool exceeded the {self.limits.memory_mb} MB memory limit")
            if expired.is_set():
                output.line(f"[madagents] killed: the tool ran longer than {timeout_s:g} s")
        return ExecResult(
            exit_code=exit_code,
            timed_out=expired.is_set(),
            seconds=time.monotonic() - start,
            output_tail=output.tail(),
            oom_killed=oom,
        )

    def ensure_ready(self, *, build: bool, on_line: OutputHandler) -> str:
        from madagents.images import build_image, image_status  # noqa: PLC0415 - images imports the SDK lazily

        status = image_status(self.client, self.image)
        if status.usable:
            return f"image {self.image} (madagents {status.version}) holds the current tools"
        why = "is missing" if not status.present else "was built from other tools/ than this installation"
        if not build:
            msg = f"image {self.image} {why}; build it with `madagents images build hep`"
            raise SandboxUnavailableError(msg)
        try:
            build_image("hep", on_line)
        except RuntimeError as exc:
            raise SandboxUnavailableError(str(exc)) from None
        if not image_status(self.client, self.image).usable:
            msg = f"containers/hep/build.sh finished but {self.image} still {why}; check its MADAGENTS_IMAGE tag"
            raise SandboxUnavailableError(msg)
        return f"built image {self.image} because it {why}"

    def describe(self) -> str:
        image = self.client.images.get(self.image)
        return f"docker image {self.image} ({image.id}), {self.limits.cpus:g} CPU, {self.limits.memory_mb} MB"

    def _policy(self, cwd: str) -> dict[str, Any]:
        return {
            "working_dir": posixpath.normpath(f"{CONTAINER_WORKDIR}/{cwd}"),
            "volumes": {str(self.workdir.resolve()): {"bind": CONTAINER_WORKDIR, "mode": "rw"}},
            "environment": CONTAINER_ENV,
            "network_mode": "none",
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,size={self.limits.tmp_mb}m"},
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "nano_cpus": int(self.limits.cpus * 1e9),
            "mem_limit": f"{self.limits.memory_mb}m",
            "memswap_limit": f"{self.limits.memory_mb}m",
            "pids_limit": self.limits.pids,
        }

    def _hand_over_workdir(self) -> str:
        """The container user: the host user, or the image's unprivileged user when the host runs as root."""
        if os.getuid() != 0:
            return f"{os.getuid()}:{os.getgid()}"
        for path in [self.workdir, *self.workdir.rglob("*")]:
            if path.stat().st_uid != SANDBOX_UID:
                os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)
        return f"{SANDBOX_UID}:{SANDBOX_UID}"


def _follow(container: Any, output: OutputLog) -> None:
    """Copy the container's combined output, line by line, as it streams."""
    pending = b""
    for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            output.line(raw.decode(errors="replace"))
    if pending:
        output.line(pending.decode(errors="replace"))


def _kill(container: Any, expired: threading.Event) -> None:
    expired.set()
    with contextlib.suppress(docker.errors.APIError):  # it ended on its own meanwhile
        container.kill()
