"""What the architecture costs: ``madagents run`` against Pythia8 alone, wall time and peak memory, in one invocation.

Usage (from the repository root, with madagents importable):
    python benchmarks/overhead.py [--events 10000] [--repeat 1] [--sandbox local]

Runs, as separate processes and alternately ``--repeat`` times (the fastest of each kept, so a load spike from
other jobs on the machine does not decide the ratio):
  * bare Pythia8 (benchmarks/bare_pythia.py): the workflow's settings and seed, ``next()`` in a loop, nothing
    written — what the physics costs;
  * ``madagents run workflows/drell_yan.yaml``: plan, sandbox check, generation with the ROOT output, analysis,
    gates, the reviewer's reproduction check, report and provenance.
Prints a table of time, peak RSS (largest process of the tree) and the ratio run / bare against its target
(≤ 1.10 at 10 000 events), each pair's times (a shared machine's speed drifts by ±10 % over minutes: a pair's
two runs, back to back, see nearly the same machine), then each role's time from the run's trace.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from measure import Measured, Row, load_line, measured, print_table

from madagents.agents.planner import plan_workflow
from madagents.rundir import RunDir
from madagents.workflow import load_workflow
from madagents_tools.generation import pythia8_generate

HERE = Path(__file__).resolve().parent
WORKFLOW = HERE.parent / "workflows" / "drell_yan.yaml"
SEED = 12345
TARGET = "≤ 1.10"


def pythia_settings(events: int, scratch: Path) -> Path:
    """The run's generation settings and seed, as bare_pythia.py reads them: planned here, not in the baseline."""
    request = plan_workflow(load_workflow(WORKFLOW, events=events, seed=SEED)).step_request(pythia8_generate.Request)
    path = scratch / "pythia8.cmnd"
    path.write_text("\n".join([*request.settings, "Random:setSeed = on", f"Random:seed = {request.seed}"]))
    return path


def bare(settings: Path, events: int) -> Measured:
    return measured([sys.executable, str(HERE / "bare_pythia.py"), str(settings), str(events)])


def madagents_run(events: int, out: Path, sandbox: str) -> Measured:
    command = [sys.executable, "-m", "madagents", "run", str(WORKFLOW), "--events", str(events)]
    command += ["--seed", str(SEED), "--out", str(out), "--sandbox", sandbox]
    return measured(command)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=1, help="alternate the two this many times; keep the fastest")
    parser.add_argument("--sandbox", choices=["local", "docker"], default="local")
    args = parser.parse_args()
    print(f"events: {args.events}, sandbox: {args.sandbox}, repeats: {args.repeat}; before: {load_line()}")
    bares, runs = [], []
    with tempfile.TemporaryDirectory() as scratch:
        settings = pythia_settings(args.events, Path(scratch))
        for index in range(args.repeat):
            bares.append(bare(settings, args.events))
            out = Path(scratch) / f"run{index}"
            runs.append(madagents_run(args.events, out, args.sandbox))
        fastest = min(range(args.repeat), key=lambda i: runs[i].seconds)
        nodes = {
            e.node: e.seconds or 0.0
            for e in RunDir(Path(scratch) / f"run{fastest}").trace_events()
            if e.event == "node_end"
        }
    base, run = min(bares, key=lambda m: m.seconds), runs[fastest]
    rows = [
        Row("bare Pythia8 (benchmarks/bare_pythia.py)", base, 1.0),
        Row(
            "madagents run (local sandbox)" if args.sandbox == "local" else "madagents run (docker; RSS: host only)",
            run,
            run.seconds / base.seconds,
            TARGET,
        ),
    ]
    print_table(f"{args.events} Drell–Yan events, the fastest of {args.repeat}; after: {load_line()}", rows)
    pairs = [run.seconds / bare.seconds for bare, run in zip(bares, runs, strict=True)]
    print("\n  each pair (bare, then run):")
    for index, (bare_run, run_run, ratio) in enumerate(zip(bares, runs, pairs, strict=True), start=1):
        print(f"    {index}: {bare_run.seconds:6.1f} s, {run_run.seconds:6.1f} s   {ratio:5.2f}×")
    print(f"    median of the pairs' ratios: {statistics.median(pairs):.2f}×")
    print("\n  the run's roles (trace.jsonl):")
    for node, seconds in nodes.items():
        print(f"    {node:<12} {seconds:8.1f} s")
    print(f"    {'outside':<12} {run.seconds - sum(nodes.values()):8.1f} s   (start-up, imports, checkpoints)")


if __name__ == "__main__":
    main()
