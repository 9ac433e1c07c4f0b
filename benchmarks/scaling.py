"""How a run grows with its events, and what Dask workers buy: time and peak memory, each ratio within one invocation.

Usage (from the repository root, with madagents importable):
    python benchmarks/scaling.py [--max-events 100000] [--dask-events 10000] [--repeat 3]
    python benchmarks/scaling.py --quick          (10³ and 10⁴ events, Dask on 4000: a few minutes)

(1) ``madagents run workflows/drell_yan.yaml`` (local sandbox) at 10³, 10⁴ and 10⁵ events (up to ``--max-events``):
    wall time, time per event and the peak RSS of the largest process, with the peak RSS relative to the 10⁴ run's
    (target ≤ 1.20 at 10⁵: events are streamed in batches, never held whole).
(2) ``--repeat`` rounds of four, each round in another order, the fastest of each kind kept (as overhead.py does:
    a shared machine's speed drifts by ±10 % over minutes, and a slow spell in one run would decide a ratio):
    this machine's ceiling, two bare Pythia8 processes of half the events one after the other, then at once; and
    the two seeded Pythia8 chunks a run of ``--dask-events`` with ``--chunks 2`` plans, on a local Dask cluster of
    one worker, then of two. Prints the speed-up of two workers over one (target ≥ 1.8 on 2 cores), each round's
    figures and the median speed-up, the merge's time and whether the merged σ is the same in every run. Starting a
    cluster is printed but not counted: a run starts it once for all steps.
"""

from __future__ import annotations

import argparse
import functools
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from measure import Measured, Row, fastest, in_rounds, load_line, measured, print_table, round_count, round_lines
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


@dataclass(frozen=True, slots=True)
class Timed:
    seconds: float
    """What the rounds compare: the wall time of the pair of bare processes, or of the two chunks."""
    merge_s: float = math.nan
    cluster_s: float = math.nan
    """Starting the cluster: once per run, for all its steps, so not part of ``seconds``."""
    sigma: tuple[float, float] | None = None
    """The merged σ and its error (pb)."""


def chunks_on(workers: int, events: int, workdir: Path) -> Timed:
    """The two chunks and the merge a run plans (``--chunks 2``), on a local cluster of ``workers``."""
    plan = plan_workflow(load_workflow(WORKFLOW, events=events, seed=SEED, chunks=2))
    chunks = plan.steps_of(pythia8_generate.Request)
    ((merge, merge_request),) = plan.steps_of(merge_samples.Request)
    dask = DaskSandbox(workdir, None, workers)
    try:
        start = time.monotonic()
        dask.ensure_ready(build=False, on_line=lambda _: None)
        cluster_s = time.monotonic() - start
        start = time.monotonic()
        with ThreadPoolExecutor(2) as pool:  # as the graph runs parallel steps: one thread each
            list(pool.map(run_tool, [dask] * 2, [step.id for step, _ in chunks], [request for _, request in chunks]))
        chunks_s = time.monotonic() - start
        merge_s = run_tool(dask, merge.id, merge_request)
        merged = result(dask, merge.id)
    finally:
        dask.close()
    assert merged.sigma_pb is not None
    assert merged.sigma_err_pb is not None
    return Timed(chunks_s, merge_s, cluster_s, (merged.sigma_pb, merged.sigma_err_pb))


def bare_pair(settings: Path, events: int, *, at_once: bool) -> Timed:
    """Two bare Pythia8 processes of ``events`` / 2 each, one after the other or at once.

    Their ratio is what two cores give two independent processes here: no scheduler can do better.
    """
    command = [sys.executable, str(HERE / "bare_pythia.py"), str(settings), str(events // 2)]
    start = time.monotonic()
    if at_once:
        pair = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(2)]
        codes = [process.wait() for process in pair]
    else:
        codes = [subprocess.run(command, stdout=subprocess.DEVNULL, check=False).returncode for _ in range(2)]
    if any(codes):
        msg = f"{' '.join(command)} failed"
        raise RuntimeError(msg)
    return Timed(time.monotonic() - start)


def dask_rows(events: int, repeat: int, scratch: Path) -> tuple[list[Row], str]:
    settings = pythia_settings(events, scratch)

    def commands(index: int) -> dict[str, Callable[[], Timed]]:
        return {
            "one after the other": functools.partial(bare_pair, settings, events, at_once=False),
            "at once": functools.partial(bare_pair, settings, events, at_once=True),
            "1 worker": functools.partial(chunks_on, 1, events, scratch / f"dask1-{index}"),
            "2 workers": functools.partial(chunks_on, 2, events, scratch / f"dask2-{index}"),
        }

    rounds = in_rounds(repeat, commands)
    best = fastest(rounds)
    sigmas = {r[kind].sigma for r in rounds for kind in ("1 worker", "2 workers")}
    merged = sigmas.pop() if len(sigmas) == 1 else None
    if merged is None:  # the workers never change a result, nor does the round
        msg = f"the merged σ (pb) differs between runs of the same seeded chunks: {sigmas}"
        raise RuntimeError(msg)
    sigma, sigma_err = merged

    def seconds(kind: str) -> Measured:
        return Measured(best[kind].seconds, math.nan)

    def speed_up(times: dict[str, Timed]) -> float:
        return times["1 worker"].seconds / times["2 workers"].seconds

    def ceiling(times: dict[str, Timed]) -> float:
        return times["one after the other"].seconds / times["at once"].seconds

    rows = [
        Row("2 bare Pythia8, one after the other", seconds("one after the other")),
        Row("2 bare Pythia8 at once (the machine's ceiling)", seconds("at once"), ceiling(best)),
        Row("2 chunks, 1 Dask worker", seconds("1 worker")),
        Row("2 chunks, 2 Dask workers (speed-up)", seconds("2 workers"), speed_up(best), "≥ 1.8"),
        Row("  + merging the chunks (ROOT only)", Measured(best["2 workers"].merge_s, math.nan)),
    ]
    lines = round_lines(rounds, {"ceiling": ceiling, "speed-up": speed_up}, "speed-up")
    lines += [
        f"  cluster start-up (once per run, not counted): {best['1 worker'].cluster_s:.1f} s (1 worker), "
        f"{best['2 workers'].cluster_s:.1f} s (2)",
        f"  merged σ = {sigma:.2f} ± {sigma_err:.2f} pb, the same in every round with 1 or 2 workers",
    ]
    return rows, "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-events", type=int, default=SIZES[-1], help="largest run of part (1)")
    parser.add_argument("--dask-events", type=int, default=10_000, help="events of part (2), in two chunks")
    parser.add_argument(
        "--repeat", type=round_count, default=3, help="rounds of part (2); the fastest of each kind is kept"
    )
    parser.add_argument("--quick", action="store_true", help="10³ and 10⁴ events, Dask on 4000")
    args = parser.parse_args()
    max_events, dask_events = (REFERENCE, 4000) if args.quick else (args.max_events, args.dask_events)
    print(f"before: {load_line()}")
    with tempfile.TemporaryDirectory() as scratch:
        rows = runs([size for size in SIZES if size <= max_events], Path(scratch))
        dask, note = dask_rows(dask_events, args.repeat, Path(scratch))
    print_table(f"(1) madagents run, Drell–Yan, local sandbox; after: {load_line()}", rows)
    print_table(f"(2) the Pythia8 tool, {dask_events} events in 2 chunks on Dask, the fastest of {args.repeat}", dask)
    print(note)


if __name__ == "__main__":
    main()
