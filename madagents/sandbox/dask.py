"""Dask backend: each command runs as a subprocess on a worker of a Dask distributed cluster.

A worker runs the command exactly as the local backend does (it calls :class:`LocalSandbox` there): the same
environment allow-list, the run directory as working directory, the output in the log file, a timeout that kills
the process group. Independent steps (the seeded chunks of a sample) therefore run in parallel on as many
workers as the cluster has, and a command gives the same files whichever worker runs it.

Without a scheduler address the backend starts a ``LocalCluster`` of worker processes on this machine when it is
first used. With one, it connects to an existing cluster, whose workers must

* see the run directory at the same absolute path as the host: a shared file system (NFS, CephFS, Lustre…),
  since the tools read their requests from it and write their results, events and logs into it;
* have madagents (with its tools) installed in one interpreter at the same path, which then runs the tools.

Output reaches ``on_line`` when the command has finished, not as it is printed.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from madagents.sandbox.base import ExecResult, OutputHandler, Sandbox, SandboxUnavailableError
from madagents.sandbox.local import LocalSandbox

__all__ = ["CONNECT_SECONDS", "DaskSandbox", "run_on_worker"]

CONNECT_SECONDS = 10
"""How long to wait for a scheduler to answer, or for the first worker to join it."""
INSTALL_HINT = "pip install 'dask[distributed]'"
QUIET_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}
"""The housekeeping of a local cluster, spaced out: its tasks only wait for a tool's process, and at Dask's defaults
(a profiler sampling every 10 ms, event-loop checks every 20 ms, memory every 100 ms) its processes took 13 % of a
core (measured), away from the generators beside them."""


class DaskSandbox(Sandbox):
    """Runs each command on a worker of a Dask cluster; the cluster (or client) is started on first use."""

    name = "dask"

    def __init__(self, workdir: Path, scheduler: str | None = None, workers: int = 2) -> None:
        super().__init__(workdir)
        self.scheduler = scheduler
        """Address of an existing scheduler (``tcp://host:8786``); None starts a local cluster."""
        self.workers = workers
        """Worker processes of the local cluster (an existing cluster has its own)."""
        self.python = sys.executable  # a local cluster's workers run this interpreter; ensure_ready asks a remote one
        self._lock = threading.Lock()  # the host runs parallel steps from several threads: one client for all
        self._client: Any = None
        self._cluster: Any = None

    def run(
        self,
        cmd: list[str],
        *,
        timeout_s: float,
        log_path: str,
        cwd: str = ".",
        on_line: OutputHandler | None = None,
        writable: Sequence[str] = (),  # noqa: ARG002 - this backend isolates nothing (module docstring)
        protected: Sequence[str] = (),  # noqa: ARG002
    ) -> ExecResult:
        client = self._connect()
        future = client.submit(
            run_on_worker,
            cmd,
            str(self.workdir.resolve()),
            timeout_s=timeout_s,
            log_path=log_path,
            cwd=cwd,
            keep_lines=on_line is not None,
            pure=False,  # the same command twice is two runs, not one cached result
        )
        try:
            result, lines = future.result()
        except BaseException:  # an interrupted host: a command still queued need not start
            future.cancel()
            raise
        if on_line is not None:
            for line in lines:
                on_line(line)
        assert isinstance(result, ExecResult)
        return result

    def ensure_ready(self, *, build: bool, on_line: OutputHandler) -> str:  # noqa: ARG002 - nothing to build
        client = self._connect()
        try:
            client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except TimeoutError:
            msg = (
                f"the Dask scheduler {client.scheduler.address} has no workers; start some with "
                f"`dask worker {client.scheduler.address}` on machines that share the run directory"
            )
            raise SandboxUnavailableError(msg) from None
        pythons = set(client.run(_worker_python).values())
        if len(pythons) != 1:
            msg = f"the Dask workers run different interpreters {sorted(pythons)}; give them one installation"
            raise SandboxUnavailableError(msg)
        self.python = pythons.pop()
        return self.describe()

    def describe(self) -> str:
        if self._client is None:
            where = f"scheduler {self.scheduler}" if self.scheduler else f"a local cluster of {self.workers} workers"
            return f"Dask distributed: {where} (not started yet)"
        workers = len(self._client.nthreads())
        kind = "existing" if self._cluster is None else "local"
        return (
            f"Dask distributed: {kind} scheduler {self._client.scheduler.address} with {workers} workers, "
            f"tools run by {self.python}"
        )

    def close(self) -> None:
        with self._lock:
            client, cluster = self._client, self._cluster
            self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def _connect(self) -> Any:
        """The client, created once whichever thread asks first."""
        with self._lock:
            if self._client is None:
                self._client, self._cluster = _start(self.scheduler, self.workers)
            return self._client


def _start(scheduler: str | None, workers: int) -> tuple[Any, Any]:
    """A client of the scheduler at ``scheduler``, or of a new local cluster (also returned, to be closed)."""
    try:
        import dask  # noqa: PLC0415 - dask loads slowly; only this backend needs it
        from distributed import Client, LocalCluster  # noqa: PLC0415
    except ImportError:
        msg = f"the dask backend needs Dask distributed, which is not installed: {INSTALL_HINT}"
        raise SandboxUnavailableError(msg) from None
    if scheduler is None:
        # no dashboard; the scheduler still serves its health routes over HTTP, by default on port 8787, which a
        # second cluster (another run on this machine) finds taken: any free local port instead
        with dask.config.set(QUIET_CLUSTER):  # read by the scheduler as it starts, handed to each worker by its nanny
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            )
        try:
            return Client(cluster), cluster  # type: ignore[no-untyped-call]
        except BaseException:
            cluster.close()
            raise
    try:
        return Client(scheduler, timeout=CONNECT_SECONDS), None  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as exc:  # unreachable (a TimeoutError is an OSError), or not an address
        msg = (
            f"no Dask scheduler answers at {scheduler} ({exc}); start one with `dask scheduler` and workers with "
            "`dask worker ADDRESS` on machines that share the run directory, or leave the scheduler out to start "
            "a local cluster"
        )
        raise SandboxUnavailableError(msg) from None


def run_on_worker(
    cmd: list[str], workdir: str, *, timeout_s: float, log_path: str, cwd: str, keep_lines: bool
) -> tuple[ExecResult, list[str]]:
    """Run ``cmd`` on this worker as the local backend would; return its result and, if asked, its output lines.

    A top-level function, so that Dask sends it to the workers by reference (module and name).
    """
    lines: list[str] = []
    result = LocalSandbox(Path(workdir)).run(
        cmd, timeout_s=timeout_s, log_path=log_path, cwd=cwd, on_line=lines.append if keep_lines else None
    )
    return result, lines


def _worker_python() -> str:
    return sys.executable
