"""What chunking buys: N Drell–Yan events as one chunk on the local sandbox vs two chunks of N/2 on two Dask workers.

Usage: python benchmarks/scaling.py [--events 20000]. Runs the Pythia8 tool with the settings of
workflows/drell_yan.yaml (a) once for N events through the local sandbox and (b) twice for N/2 events with other
seeds, in parallel on a local Dask cluster of two workers, then merges the two chunks with the merge_samples tool.
Prints the wall times, the speed-up (goal ≥ 1.8 on 2 workers) and whether the merged sample's σ agrees with the
single chunk's. The cluster's start-up is printed but not counted: a run starts it once for all its steps.

Each chunk writes its HepMC3 file from a second process. A single chunk therefore already uses a second core for
writing, while two chunks on two cores share them with their writers: the speed-up cannot exceed
2 T / (T + W) there (T the single chunk's time, W its writer's busy time), which the benchmark prints beside the
measurement; with four or more cores the bound is 2.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from madagents.agents.planner import plan_workflow
from madagents.sandbox import LocalSandbox, Sandbox
from madagents.sandbox.dask import DaskSandbox
from madagents.workflow import load_workflow
from madagents_tools import TOOL_MODULES
from madagents_tools.contract import ToolRequest
from madagents_tools.generation import merge_samples, pythia8_generate

WORKFLOW = Path(__file__).resolve().parent.parent / "workflows" / "drell_yan.yaml"
SEED = 12345
WORKERS = 2
TIMEOUT_S = 3600.0


def run_tool(sandbox: Sandbox, step: str, request: ToolRequest) -> float:
    """Run one tool as a workflow step does (``steps/<step>/{request,result}.json``); return its wall time."""
    directory = sandbox.workdir / "steps" / step
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "request.json").write_text(request.model_dump_json())
    command = [
        sandbox.python,
        "-m",
        TOOL_MODULES[request.tool],
        f"steps/{step}/request.json",
        f"steps/{step}/result.json",
    ]
    start = time.monotonic()
    executed = sandbox.run(command, timeout_s=TIMEOUT_S, log_path=f"steps/{step}/log.txt")
    seconds = time.monotonic() - start
    if executed.exit_code != 0:
        msg = f"step {step} failed (exit code {executed.exit_code}):\n{executed.output_tail}"
        raise RuntimeError(msg)
    return seconds


def result(sandbox: Sandbox, step: str) -> pythia8_generate.Result:
    return pythia8_generate.Result.model_validate_json((sandbox.workdir / "steps" / step / "result.json").read_text())


def writer_seconds(sandbox: Sandbox, step: str) -> float:
    """The HepMC3 writer process's busy time, from the tool's log."""
    log = (sandbox.workdir / "steps" / step / "log.txt").read_text()
    found = re.search(r"HepMC writer process ([0-9.]+) s", log)
    if found is None:
        msg = f"no HepMC writer time in the log of step {step}"
        raise RuntimeError(msg)
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    events = parser.parse_args().events
    request = plan_workflow(load_workflow(WORKFLOW, events=events, seed=SEED)).step_request(pythia8_generate.Request)
    with tempfile.TemporaryDirectory() as scratch:
        single = LocalSandbox(Path(scratch) / "single")
        single_s = run_tool(single, "01-generate", request.model_copy(update={"seed": SEED}))
        one = result(single, "01-generate")
        writer_s = writer_seconds(single, "01-generate")

        dask = DaskSandbox(Path(scratch) / "chunks", None, WORKERS)
        try:
            start = time.monotonic()
            dask.ensure_ready(build=False, on_line=print)
            cluster_s = time.monotonic() - start
            steps = [f"01-generate_c{i}" for i in (1, 2)]
            sizes = [events // 2, events - events // 2]
            chunks = [
                request.model_copy(
                    update={
                        "seed": SEED + i,
                        "n_events": size,
                        "root_path": f"events/chunks/c{i}.root",
                        "hepmc_path": f"events/chunks/c{i}.hepmc3",
                    }
                )
                for i, size in zip((1, 2), sizes, strict=True)
            ]
            start = time.monotonic()
            with ThreadPoolExecutor(WORKERS) as pool:  # as the graph runs parallel steps: one thread each
                list(pool.map(run_tool, [dask] * 2, steps, chunks))
            chunks_s = time.monotonic() - start
            merge = merge_samples.Request(chunk_results=[f"steps/{step}/result.json" for step in steps])
            merge_s = run_tool(dask, "02-merge", merge)
            merged = result(dask, "02-merge")
        finally:
            dask.close()
    report(events, (single_s, chunks_s, merge_s, cluster_s, writer_s), one, merged)


def report(
    events: int,
    seconds: tuple[float, float, float, float, float],
    one: pythia8_generate.Result,
    merged: pythia8_generate.Result,
) -> None:
    single_s, chunks_s, merge_s, cluster_s, writer_s = seconds
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    bound = 2.0 if cpus >= 2 * WORKERS else 2 * single_s / (single_s + writer_s)
    print(f"events: {events}, CPUs: {cpus}, Dask workers: {WORKERS}, load average (1 min) {load:.1f}")
    print(f"  HepMC3 writer busy {writer_s:.1f} s of the single chunk's {single_s:.1f} s: with the writers, the")
    print(f"  speed-up {WORKERS} chunks can reach on {cpus} cores is {bound:.2f}×")
    print(f"one chunk, local sandbox:         {single_s:8.1f} s")
    print(f"two chunks on Dask, in parallel:  {chunks_s:8.1f} s   speed-up {single_s / chunks_s:.2f}×   (goal ≥ 1.8)")
    print(f"  + merging them:                 {merge_s:8.1f} s   speed-up {single_s / (chunks_s + merge_s):.2f}×")
    print(f"  (starting the cluster, once per run: {cluster_s:.1f} s)")
    assert one.sigma_pb is not None
    assert one.sigma_err_pb is not None
    assert merged.sigma_pb is not None
    assert merged.sigma_err_pb is not None
    pull = (merged.sigma_pb - one.sigma_pb) / math.hypot(one.sigma_err_pb, merged.sigma_err_pb)
    verdict = "compatible" if abs(pull) < 3 else "NOT compatible"
    print(f"σ one chunk:  {one.sigma_pb:10.2f} ± {one.sigma_err_pb:.2f} pb  ({one.n_tried} tried)")
    print(f"σ merged:     {merged.sigma_pb:10.2f} ± {merged.sigma_err_pb:.2f} pb  ({merged.n_tried} tried)")
    print(f"difference: {pull:+.2f} standard deviations: {verdict}")


if __name__ == "__main__":
    main()
