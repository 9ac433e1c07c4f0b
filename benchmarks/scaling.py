"""How a run grows with its events, and what Dask workers buy: time and peak memory, each ratio within one invocation.

Usage (from the repository root, with madagents importable):
    python benchmarks/scaling.py [--max-events 100000] [--dask-events 10000]
    python benchmarks/scaling.py --quick          (10³ and 10⁴ events, Dask on 4000: a few minutes)

(1) ``madagents run workflows/drell_yan.yaml`` (local sandbox) at 10³, 10⁴ and 10⁵ events (up to ``--max-events``):
    wall time, time per event and the peak RSS of the largest process, with the peak RSS relative to the 10⁴ run's
    (target ≤ 1.20 at 10⁵: events are streamed in batches, never held whole).
(2) First this machine's ceiling: two bare Pythia8 processes of half the events, one after the other, then at once.
    Then the two seeded Pythia8 chunks a run of ``--dask-events`` with ``--chunks 2`` plans, on a local Dask cluster
    of one worker, then of two: the speed-up of two workers over one (target ≥ 1.8 on 2 cores), the merge's time and
    whether the merged σ is the same with either. Starting a cluster is printed but not counted: a run starts it once
    for all steps.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from measure import Measured, Row, load_line, measured, print_table
from overhead import HERE, SEED, WORKFLOW, pythia_settings

from madagents.agents.planner import plan_workflow
from madagents.sandbox import Sandbox
from madagents.sandbox.dask import DaskSandbox
from madagents.workflow import load_workflow
from madagents_tools import TOOL_MODULES
from madagents_tools.contract import ToolRequest
from madagents_tools.generation import merge_samples, pythia8_generate

SIZES = (1_000, 10_000, 100_000)
REFERENCE = 10_000
"""The run whose peak RSS the others are compared with."""
TIMEOUT_S = 7200.0


def run_tool(sandbox: Sandbox, step: str, request: ToolRequest) -> float:
    """Run one tool as a workflow step does (``steps/<step>/{request,result}.json``); return its wall time."""
    directory = sandbox.workdir / "steps" / step
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "request.json").write_text(request.model_dump_json())
    module = TOOL_MODULES[request.tool]
    command = [sandbox.python, "-m", module, f"steps/{step}/request.json", f"steps/{step}/result.json"]
    start = time.monotonic()
    executed = sandbox.run(command, timeout_s=TIMEOUT_S, log_path=f"steps/{step}/log.txt")
    if executed.exit_code != 0:
        msg = f"step {step} failed (exit code {executed.exit_code}):\n{executed.output_tail}"
        raise RuntimeError(msg)
    return time.monotonic() - start


def result(sandbox: Sandbox, step: str) -> pythia8_generate.Result:
    return pythia8_generate.Result.model_validate_json((sandbox.workdir / "steps" / step / "result.json").read_text())


def runs(sizes: list[int], scratch: Path) -> list[Row]:
    measurements: dict[int, Measured] = {}
    for events in sizes:
        command = [sys.executable, "-m", "madagents", "run", str(WORKFLOW), "--events", str(events)]
        command += ["--seed", str(SEED), "--out", str(scratch / f"run{events}"), "--sandbox", "local"]
        measurements[events] = measured(command)
        print(f"  madagents run, {events} events: {measurements[events].seconds:.1f} s", flush=True)
    reference = measurements.get(REFERENCE)
    rows = []
    for events, found in measurements.items():
        per_event = f", {1000 * found.seconds / events:.1f} ms/event"
        if reference is None or events == REFERENCE:
            rows.append(Row(f"{events} events{per_event}", found))
            continue
        ratio = found.peak_rss_mb / reference.peak_rss_mb
        target = "≤ 1.20" if events > REFERENCE else ""
        rows.append(Row(f"{events} events{per_event} (RSS / 10⁴'s)", found, ratio, target))
    return rows


def chunks_on(workers: int, events: int, scratch: Path) -> tuple[float, float, float, pythia8_generate.Result]:
    """The two chunks and the merge a run plans (``--chunks 2``) on a cluster of ``workers``: (the chunks' wall
    time, the merge's, the cluster's start-up, the merged result)."""
    plan = plan_workflow(load_workflow(WORKFLOW, events=events, seed=SEED, chunks=2))
    chunks = plan.steps_of(pythia8_generate.Request)
    ((merge, merge_request),) = plan.steps_of(merge_samples.Request)
    dask = DaskSandbox(scratch / f"dask{workers}", None, workers)
    try:
        start = time.monotonic()
        dask.ensure_ready(build=False, on_line=lambda _: None)
        cluster_s = time.monotonic() - start
        start = time.monotonic()
        with ThreadPoolExecutor(2) as pool:  # as the graph runs parallel steps: one thread each
            list(pool.map(run_tool, [dask] * 2, [step.id for step, _ in chunks], [request for _, request in chunks]))
        chunks_s = time.monotonic() - start
        merge_s = run_tool(dask, merge.id, merge_request)
        return chunks_s, merge_s, cluster_s, result(dask, merge.id)
    finally:
        dask.close()


def machine_ceiling(events: int, scratch: Path) -> tuple[float, float]:
    """Two bare Pythia8 processes of ``events`` / 2 each, one after the other, then at once: (their wall times).

    What two cores give two independent processes here: no scheduler can do better than this ratio.
    """
    settings = pythia_settings(events, scratch)
    command = [sys.executable, str(HERE / "bare_pythia.py"), str(settings), str(events // 2)]
    start = time.monotonic()
    for _ in range(2):
        subprocess.run(command, check=True, capture_output=True)
    one_after_the_other = time.monotonic() - start
    start = time.monotonic()
    both = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(2)]
    if any(process.wait() != 0 for process in both):
        msg = f"{' '.join(command)} failed"
        raise RuntimeError(msg)
    return one_after_the_other, time.monotonic() - start


def dask_rows(events: int, scratch: Path) -> tuple[list[Row], str]:
    sequential_s, parallel_s = machine_ceiling(events, scratch)
    one_s, _, cluster1_s, merged_one = chunks_on(1, events, scratch)
    two_s, merge_s, cluster2_s, merged = chunks_on(2, events, scratch)
    rows = [
        Row("2 bare Pythia8, one after the other", Measured(sequential_s, math.nan)),
        Row(
            "2 bare Pythia8 at once (the machine's ceiling)",
            Measured(parallel_s, math.nan),
            sequential_s / parallel_s,
        ),
        Row("2 chunks, 1 Dask worker", Measured(one_s, math.nan)),
        Row("2 chunks, 2 Dask workers (speed-up)", Measured(two_s, math.nan), one_s / two_s, "≥ 1.8"),
        Row("  + merging the chunks (ROOT only)", Measured(merge_s, math.nan)),
    ]
    assert merged.sigma_pb is not None
    assert merged.sigma_err_pb is not None
    assert merged_one.sigma_pb == merged.sigma_pb  # the workers never change a result
    note = (
        f"  cluster start-up (once per run, not counted): {cluster1_s:.1f} s (1 worker), {cluster2_s:.1f} s (2)\n"
        f"  merged σ = {merged.sigma_pb:.2f} ± {merged.sigma_err_pb:.2f} pb, the same with 1 or 2 workers"
    )
    return rows, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-events", type=int, default=SIZES[-1], help="largest run of part (1)")
    parser.add_argument("--dask-events", type=int, default=10_000, help="events of part (2), in two chunks")
    parser.add_argument("--quick", action="store_true", help="10³ and 10⁴ events, Dask on 4000")
    args = parser.parse_args()
    max_events, dask_events = (REFERENCE, 4000) if args.quick else (args.max_events, args.dask_events)
    print(f"before: {load_line()}")
    with tempfile.TemporaryDirectory() as scratch:
        rows = runs([size for size in SIZES if size <= max_events], Path(scratch))
        dask, note = dask_rows(dask_events, Path(scratch))
    print_table(f"(1) madagents run, Drell–Yan, local sandbox; after: {load_line()}", rows)
    print_table(f"(2) the Pythia8 tool, {dask_events} events in 2 chunks on Dask", dask)
    print(note)


if __name__ == "__main__":
    main()
