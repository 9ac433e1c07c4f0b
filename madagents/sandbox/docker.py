"""Docker backend: every tool call runs in a fresh, locked-down container of the hep image.

Policy (ARCHITECTURE.md, "Sandbox policy"): no network, a non-root user with no capabilities, a read-only root
filesystem with a tmpfs /tmp, CPU / memory / pids limits, a wall-clock timeout that kills the container, and an
environment built from an allow-list — nothing of the host leaks in.

The boundary ("The trust boundary"): the run directory is mounted read-only; only the directories a call writes
(its step directory and its requests' outputs) are mounted writable on top, and its request and log files read-only
inside them. run.json, checkpoints, status, trace, reproduce.sh, report and provenance stay out of reach.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import docker

from madagents.sandbox.base import ExecResult, OutputHandler, OutputLog, Sandbox, SandboxUnavailableError
from madagents.sandbox.host import DockerLimits, ToolHost, tool_locations

__all__ = [
    "CONTAINER_WORKDIR",
    "SANDBOX_UID",
    "DockerLimits",
    "DockerSandbox",
    "build_command",
    "cli_flags",
    "container_policy",
    "docker_client",
]

CONTAINER_WORKDIR = "/work"
SANDBOX_UID = 1000
"""The image's unprivileged user; a root host hands the run directory to it."""
CONTAINER_ENV = {
    "HOME": "/tmp",
    "MPLCONFIGDIR": "/tmp/matplotlib",
    "PYTHONUNBUFFERED": "1",
    # `python -m madagents_tools.X` must not import a madagents_tools/ package planted in the run directory
    "PYTHONSAFEPATH": "1",
    "LANG": "C.UTF-8",
}
"""The whole environment of a tool container: nothing is copied from the host."""
MODELS_MOUNT = "/models"
MODELS_ENV = "MADAGENTS_MODELS_DIR"


def build_command(kind: str) -> str:
    """The command that builds the image of ``kind``; hep-full's sources are release tarballs the user has."""
    return f"madagents images build {kind}" + (" --source DIR" if kind == "hep-full" else "")


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
    isolated = True

    def __init__(
        self,
        workdir: Path,
        image: str,
        limits: DockerLimits,
        client: Any | None = None,
        models_dir: Path | None = None,
    ) -> None:
        super().__init__(workdir)
        self.models_dir = models_dir
        """The user's UFO models, mounted read-only at MODELS_MOUNT (MG5 imports copies of them)."""
        self.image = image
        self.kind = "hep"
        """Which image (hep, hep-full, ml) ``image`` is; only hep is built without being asked."""
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
        writable: Sequence[str] = (),
        protected: Sequence[str] = (),
    ) -> ExecResult:
        start = time.monotonic()
        with OutputLog(self.workdir / log_path, on_line) as output:
            try:
                # after OutputLog made the log's directory, which may be one the tool writes to
                mounts = self._mounts(writable, [*protected, log_path]) + self._models_mount()
                user = self._hand_over(writable, [*protected, log_path])
                container = self.client.containers.run(
                    self.image,
                    cmd,
                    detach=True,
                    user=user,
                    mounts=mounts,
                    **container_policy(self.limits, cwd, models=self.models_dir is not None),
                )
            except (docker.errors.DockerException, UnsafeMountError) as exc:
                output.line(f"[madagents] the container could not start: {exc}")
                return ExecResult(
                    exit_code=-1, timed_out=False, seconds=time.monotonic() - start, output_tail=output.tail()
                )
            expired = threading.Event()
            timer = threading.Timer(timeout_s, _kill, args=(container, expired))
            timer.start()
            cpu = _CpuMeter(container)
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
            cpu_seconds=cpu.seconds,
            output_tail=output.tail(),
            oom_killed=oom,
        )

    def ensure_ready(self, *, build: bool, on_line: OutputHandler) -> str:
        from madagents.images import build_image, image_status  # noqa: PLC0415 - images imports the SDK lazily

        status = image_status(self.client, self.image)
        if status.usable:
            return f"image {self.image} (madagents {status.version}) holds the current tools"
        why = "is missing" if not status.present else "was built from other tools/ than this installation"
        if not build or self.kind != "hep":  # hep-full needs release tarballs, ml a CPU torch wheel: the user's call
            msg = f"image {self.image} {why}; build it with `{build_command(self.kind)}`"
            raise SandboxUnavailableError(msg)
        try:
            build_image("hep", on_line)
        except RuntimeError as exc:
            raise SandboxUnavailableError(str(exc)) from None
        if not image_status(self.client, self.image).usable:
            msg = f"containers/hep/build.sh finished but {self.image} still {why}; check its MADAGENTS_IMAGE tag"
            raise SandboxUnavailableError(msg)
        return f"built image {self.image} because it {why}"

    def use_image(self, kind: str, image: str) -> None:
        self.kind, self.image = kind, image

    def describe(self) -> str:
        image = self.client.images.get(self.image)
        return f"docker image {self.image} ({image.id}), {self.limits.cpus:g} CPU, {self.limits.memory_mb} MB"

    def tool_host(self) -> ToolHost:
        return ToolHost(
            backend=self.name,
            python=sys.executable,
            environment=tool_locations(),  # for reproduce.sh's fall-back to this interpreter where Docker is not
            image=self.image,
            image_kind=self.kind,
            image_id=self.client.images.get(self.image).id,
            docker_cli=shutil.which("docker"),
            limits=self.limits,
            models_dir=str(self.models_dir.resolve()) if self.models_dir else None,
        )

    def _mounts(self, writable: Sequence[str], protected: Sequence[str]) -> list[docker.types.Mount]:
        """The run directory read-only; ``writable`` directories on top of it; ``protected`` files read-only again.

        Docker mounts a parent before its children, so the order of the list does not matter.
        """
        root = self.workdir.resolve()
        mounts = [docker.types.Mount(CONTAINER_WORKDIR, str(root), type="bind", read_only=True)]
        for relative in writable:
            if PurePosixPath(relative) == PurePosixPath():
                msg = "the run directory itself cannot be writable for a tool"
                raise UnsafeMountError(msg)
            source = _real_path(root, relative, directory=True)
            mounts.append(docker.types.Mount(f"{CONTAINER_WORKDIR}/{relative}", str(source), type="bind"))
        for relative in protected:
            if any(PurePosixPath(relative).is_relative_to(directory) for directory in writable):
                source = _real_path(root, relative, directory=False)
                target = f"{CONTAINER_WORKDIR}/{relative}"
                mounts.append(docker.types.Mount(target, str(source), type="bind", read_only=True))
        return mounts

    def _models_mount(self) -> list[docker.types.Mount]:
        if self.models_dir is None:
            return []
        return [docker.types.Mount(MODELS_MOUNT, str(self.models_dir.resolve()), type="bind", read_only=True)]

    def _hand_over(self, writable: Sequence[str], protected: Sequence[str]) -> str:
        """The container user: the host user, or the image's unprivileged user when the host runs as root.

        A root host gives that user the writable directories (and nothing else); the protected files stay root's.
        """
        if os.getuid() != 0:
            return f"{os.getuid()}:{os.getgid()}"
        keep = {self.workdir / relative for relative in protected}
        for relative in writable:
            top = self.workdir / relative
            for folder, subdirs, files in os.walk(top):  # os.walk never follows a symbolic link to a directory
                for path in [Path(folder), *(Path(folder) / name for name in [*subdirs, *files])]:
                    if path not in keep and path.lstat().st_uid != SANDBOX_UID:
                        os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)
        return f"{SANDBOX_UID}:{SANDBOX_UID}"


def container_policy(limits: DockerLimits, cwd: str, *, models: bool) -> dict[str, Any]:
    """The SDK's ``containers.run`` arguments that lock a tool container down (the module docstring's policy)."""
    return {
        "working_dir": posixpath.normpath(f"{CONTAINER_WORKDIR}/{cwd}"),
        "environment": {**CONTAINER_ENV, **({MODELS_ENV: MODELS_MOUNT} if models else {})},
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,size={limits.tmp_mb}m"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "nano_cpus": int(limits.cpus * 1e9),
        "mem_limit": f"{limits.memory_mb}m",
        "memswap_limit": f"{limits.memory_mb}m",
        "pids_limit": limits.pids,
    }


def cli_flags(policy: dict[str, Any]) -> list[str]:
    """The same policy as ``docker run`` flags (reproduce.sh runs the steps with the docker command).

    Raises ``ValueError`` for an argument without a translation, so the two can never drift apart silently.
    """
    flags: list[str] = []
    for key, value in policy.items():
        if key in _SINGLE_FLAGS:
            flags += [_SINGLE_FLAGS[key], str(value)]
        elif key in _LIST_FLAGS:
            flags += [word for item in value for word in (_LIST_FLAGS[key], item)]
        elif key == "environment":
            flags += [word for name, setting in value.items() for word in ("--env", f"{name}={setting}")]
        elif key == "tmpfs":
            flags += [word for target, options in value.items() for word in ("--tmpfs", f"{target}:{options}")]
        elif key == "nano_cpus":
            flags += ["--cpus", f"{value / 1e9:g}"]
        elif key == "read_only" and value is True:
            flags.append("--read-only")
        else:
            msg = f"container_policy's {key}={value!r} has no docker run flag in cli_flags"
            raise ValueError(msg)
    return flags


_SINGLE_FLAGS = {
    "working_dir": "--workdir",
    "network_mode": "--network",
    "mem_limit": "--memory",
    "memswap_limit": "--memory-swap",
    "pids_limit": "--pids-limit",
}
_LIST_FLAGS = {"cap_drop": "--cap-drop", "security_opt": "--security-opt"}


class UnsafeMountError(Exception):
    """A path to be mounted is not what the host made it: a symbolic link, or a file where a directory belongs."""


def _real_path(root: Path, relative: str, *, directory: bool) -> Path:
    """``root/relative``, creating missing directories; refuses a symbolic link anywhere on the way.

    Docker resolves a mount's source on the host: a link a tool left in a writable directory would otherwise
    mount whatever it points to (``/``, say) into the next container.
    """
    current = root
    parts = PurePosixPath(relative).parts
    for index, part in enumerate(parts):
        current = current / part
        last = index == len(parts) - 1
        if directory or not last:
            with contextlib.suppress(FileExistsError):
                current.mkdir()
        mode = current.lstat().st_mode
        expected = stat.S_ISDIR(mode) if directory or not last else stat.S_ISREG(mode)
        if stat.S_ISLNK(mode) or not expected:
            msg = f"{relative} is not a plain {'directory' if directory else 'file'} of the run directory; refused"
            raise UnsafeMountError(msg)
    return current


def _follow(container: Any, output: OutputLog) -> None:
    """Copy the container's combined output, line by line, as it streams."""
    pending = b""
    for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            output.line(raw.decode(errors="replace"))
    if pending:
        output.line(pending.decode(errors="replace"))


class _CpuMeter:
    """A running container's CPU time, from the daemon's stats (its cgroup's counter, sampled about once a second).

    The cgroup goes with the container (the stats of a stopped one are zeros), so the figure is the last sample before
    the end: short by up to a second's work, and None for a tool that ended before a sample saw it use any.
    """

    def __init__(self, container: Any) -> None:
        self._nanoseconds: int | None = None
        threading.Thread(target=self._sample, args=(container,), daemon=True).start()

    @property
    def seconds(self) -> float | None:
        return None if self._nanoseconds is None else self._nanoseconds / 1e9

    def _sample(self, container: Any) -> None:
        # the stream ends, or breaks, when the container stops or is removed; the figure is then what was seen
        with contextlib.suppress(docker.errors.DockerException, OSError, ValueError):
            for sample in container.stats(stream=True, decode=True):
                used = sample.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage")
                if used:
                    self._nanoseconds = int(used)


def _kill(container: Any, expired: threading.Event) -> None:
    expired.set()
    with contextlib.suppress(docker.errors.APIError):  # it ended on its own meanwhile
        container.kill()
