"""The Dask backend on a local cluster of two worker processes: commands, logs, timeouts, parallel runs."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import awkward as ak
import pytest
import uproot

from madagents.sandbox import LocalSandbox, SandboxUnavailableError
from madagents.sandbox import dask as dask_backend
from madagents.sandbox.dask import DaskSandbox
from madagents_tools.generation.pythia8_generate import Request, Result
from tests.conftest import DRELL_YAN_PYTHIA

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskSandbox]:
    """One local cluster of two workers for the module; closed at its end."""
    sandbox = DaskSandbox(tmp_path_factory.mktemp("dask"), None, 2)
    try:
        sandbox.ensure_ready(build=False, on_line=lambda _: None)
        yield sandbox
    finally:
        sandbox.close()


def test_making_the_sandbox_starts_nothing(tmp_path: Path) -> None:
    sandbox = DaskSandbox(tmp_path, None, 3)
    assert sandbox.describe() == "Dask distributed: a local cluster of 3 workers (not started yet)"
    assert sandbox.python == sys.executable
    sandbox.close()  # closing what never started is fine


def test_ensure_ready_describes_the_cluster(sandbox: DaskSandbox) -> None:
    description = sandbox.ensure_ready(build=False, on_line=lambda _: None)
    assert description.startswith("Dask distributed: local scheduler tcp://")
    assert "with 2 workers" in description
    assert sandbox.python == sys.executable  # a local cluster's workers run this interpreter
    assert sandbox.name == "dask"


def _housekeeping() -> dict[str, object]:
    import dask  # noqa: PLC0415 - runs on a worker

    return {key: dask.config.get(key) for key in dask_backend.QUIET_CLUSTER}


def test_the_local_cluster_keeps_its_housekeeping_quiet(sandbox: DaskSandbox) -> None:
    # a worker's profiler and monitors took 13 % of a core from the generators beside them; the workers of the
    # cluster run with the spaced-out settings, while the host's own configuration is left as it was
    import dask  # noqa: PLC0415

    workers = sandbox._connect().run(_housekeeping)
    assert len(workers) == 2
    assert all(found == dask_backend.QUIET_CLUSTER for found in workers.values())
    assert dask.config.get("distributed.worker.profile.enabled") is True


def test_runs_in_the_work_directory_and_logs_output(sandbox: DaskSandbox) -> None:
    (sandbox.workdir / "sub").mkdir()
    lines: list[str] = []
    result = sandbox.run(
        [sys.executable, "-c", "import os; print(os.getcwd()); print('second')"],
        timeout_s=30,
        log_path="logs/out.txt",
        cwd="sub",
        on_line=lines.append,
    )
    assert result.exit_code == 0
    assert not result.timed_out
    here = str(sandbox.workdir.resolve() / "sub")
    assert lines == [here, "second"]
    assert (sandbox.workdir / "logs/out.txt").read_text() == f"{here}\nsecond\n"
    assert result.output_tail == f"{here}\nsecond\n"


def test_exit_code_is_reported(sandbox: DaskSandbox) -> None:
    result = sandbox.run([sys.executable, "-c", "raise SystemExit(3)"], timeout_s=30, log_path="exit.txt")
    assert result.exit_code == 3
    assert not result.timed_out


def test_only_allowed_variables_reach_the_command(sandbox: DaskSandbox) -> None:
    result = sandbox.run([sys.executable, "-c", "import os; print(sorted(os.environ))"], timeout_s=30, log_path="e")
    assert "PATH" in result.output_tail
    assert "OMP_NUM_THREADS" not in result.output_tail  # set by the Dask nanny in the worker, dropped here


def test_timeout_kills_the_process_group(sandbox: DaskSandbox) -> None:
    code = (
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print('started', flush=True); time.sleep(60)"
    )
    result = sandbox.run([sys.executable, "-c", code], timeout_s=1.0, log_path="timeout.txt")
    assert result.timed_out
    assert result.exit_code != 0
    assert result.seconds < 10
    assert "started" in result.output_tail


def test_commands_from_two_threads_run_in_parallel(sandbox: DaskSandbox) -> None:
    def sleep(index: int) -> None:
        sandbox.run([sys.executable, "-c", "import time; time.sleep(1)"], timeout_s=30, log_path=f"sleep{index}.txt")

    threads = [threading.Thread(target=sleep, args=(index,)) for index in range(2)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - start < 1.8


def _generate(sandbox: LocalSandbox | DaskSandbox, directory: str) -> tuple[Result, ak.Array]:
    run_dir = sandbox.workdir / directory
    run_dir.mkdir(parents=True)
    request = Request(settings=DRELL_YAN_PYTHIA, n_events=40, seed=321, batch_size=15)
    (run_dir / "request.json").write_text(request.model_dump_json())
    command = [sandbox.python, "-m", "madagents_tools.generation.pythia8_generate", "request.json", "result.json"]
    executed = sandbox.run(command, timeout_s=120, log_path=f"{directory}/log.txt", cwd=directory)
    assert executed.exit_code == 0, executed.output_tail
    with uproot.open(run_dir / request.root_path) as file:
        arrays = file["events"].arrays()
    return Result.model_validate_json((run_dir / "result.json").read_text()), arrays


def test_a_tool_gives_the_same_events_as_on_the_local_backend(sandbox: DaskSandbox) -> None:
    on_dask, dask_events = _generate(sandbox, "dask_run")
    on_local, local_events = _generate(LocalSandbox(sandbox.workdir), "local_run")
    assert on_dask.ok
    assert on_local.ok
    assert (on_dask.n_tried, on_dask.sigma_pb) == (on_local.n_tried, on_local.sigma_pb)
    assert dask_events.fields == local_events.fields
    for field in dask_events.fields:
        assert ak.array_equal(dask_events[field], local_events[field]), field
    assert on_dask.files[0].sha256 == on_local.files[0].sha256  # the HepMC3 files are byte-identical too


def test_unreachable_scheduler_says_how_to_start_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dask_backend, "CONNECT_SECONDS", 1)
    sandbox = DaskSandbox(tmp_path, "tcp://127.0.0.1:9", 2)
    assert sandbox.describe() == "Dask distributed: scheduler tcp://127.0.0.1:9 (not started yet)"
    with pytest.raises(
        SandboxUnavailableError, match=r"no Dask scheduler answers at tcp://127.0.0.1:9 .*dask scheduler"
    ):
        sandbox.ensure_ready(build=False, on_line=lambda _: None)
    sandbox.close()


def test_missing_distributed_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` raise ImportError
    with pytest.raises(SandboxUnavailableError, match=r"pip install 'dask\[distributed\]'"):
        DaskSandbox(tmp_path, None, 2).ensure_ready(build=False, on_line=lambda _: None)


def test_other_backends_have_nothing_to_close(tmp_path: Path) -> None:
    LocalSandbox(tmp_path).close()  # the default: nothing to release, nothing raised


def test_cpu_time_is_measured_on_the_worker(sandbox: DaskSandbox) -> None:
    busy = "import time\nwhile time.process_time() < 1.0: pass"
    result = sandbox.run([sys.executable, "-c", busy], timeout_s=60, log_path="busy.txt")
    assert result.exit_code == 0
    assert result.cpu_seconds is not None
    assert 1.0 <= result.cpu_seconds <= result.seconds + 0.05
