"""What the architecture costs: ``madagents run`` against Pythia8 alone, wall time and peak memory, in one invocation.

Usage (from the repository root, with madagents importable):
    python benchmarks/overhead.py [--events 10000] [--repeat 3] [--sandbox local]

Runs, as separate processes, ``--repeat`` rounds of three (the fastest of each kept, so a load spike from other jobs
on the machine does not decide the ratio; each round in another order, so a drift of the machine's speed favours
none of them):
  * bare Pythia8 (benchmarks/bare_pythia.py): the workflow's settings and seed, ``next()`` in a loop, nothing
    read out or written — what the physics costs, and the target's reference;
  * the same with the events read out as the generator reads them (``nextBatch``), nothing written: the part of a
    run's cost any Python program that looks at the events pays;
  * ``madagents run workflows/drell_yan.yaml``: plan, sandbox check, generation with the ROOT output, analysis,
    gates, the reviewer's reproduction check, report and provenance.
Prints a table of time, peak RSS (largest process of the tree) and the ratio run / bare against its target
(≤ 1.10 at 10 000 events), each round's times and ratio (a shared machine's speed drifts by ±10 % over minutes: a
round's runs, back to back, see nearly the same machine), then each role's time from the run's trace.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from measure import Measured, Row, fastest, in_rounds, load_line, measured, print_table, round_count, round_lines

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


def bare(settings: Path, events: int, *, read_out: bool = False) -> Measured:
    command = [sys.executable, str(HERE / "bare_pythia.py"), str(settings), str(events)]
    return measured([*command, "--read-out"] if read_out else command)


def madagents_run(events: int, out: Path, sandbox: str) -> Measured:
    command = [sys.executable, "-m", "madagents", "run", str(WORKFLOW), "--events", str(events)]
    command += ["--seed", str(SEED), "--out", str(out), "--sandbox", sandbox]
    return measured(command)


def run_per_bare(times: dict[str, Measured]) -> float:
    return times["run"].seconds / times["bare"].seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument(
        "--repeat", type=round_count, default=3, help="rounds of the three; the fastest of each is kept"
    )
    parser.add_argument("--sandbox", choices=["local", "docker"], default="local")
    args = parser.parse_args()
    print(f"events: {args.events}, sandbox: {args.sandbox}, rounds: {args.repeat}; before: {load_line()}")
    with tempfile.TemporaryDirectory() as scratch:
        settings = pythia_settings(args.events, Path(scratch))

        def commands(index: int) -> dict[str, Callable[[], Measured]]:
            return {
                "bare": functools.partial(bare, settings, args.events),
                "read out": functools.partial(bare, settings, args.events, read_out=True),
                "run": functools.partial(madagents_run, args.events, Path(scratch) / f"run{index}", args.sandbox),
            }

        rounds = in_rounds(args.repeat, commands)
        fastest_run = min(range(args.repeat), key=lambda i: rounds[i]["run"].seconds)
        nodes = {
            e.node: e.seconds or 0.0
            for e in RunDir(Path(scratch) / f"run{fastest_run}").trace_events()
            if e.event == "node_end"
        }
    best = fastest(rounds)
    base = best["bare"].seconds
    rows = [
        Row("bare Pythia8 (benchmarks/bare_pythia.py)", best["bare"], 1.0),
        Row("  the same, events read out (nextBatch)", best["read out"], best["read out"].seconds / base),
        Row(
            "madagents run (local sandbox)" if args.sandbox == "local" else "madagents run (docker; RSS: host only)",
            best["run"],
            best["run"].seconds / base,
            TARGET,
        ),
    ]
    print_table(f"{args.events} Drell–Yan events, the fastest of {args.repeat}; after: {load_line()}", rows)
    added = best["run"].seconds / best["read out"].seconds
    print(f"\n  run / read out: {added:.2f}× (madagents beyond reading the events: start-up, writers, analysis, check)")
    print("\n" + "\n".join(round_lines(rounds, {"run / bare": run_per_bare}, "run / bare")))
    print("\n  the run's roles (trace.jsonl):")
    for node, seconds in nodes.items():
        print(f"    {node:<12} {seconds:8.1f} s")
    print(f"    {'outside':<12} {best['run'].seconds - sum(nodes.values()):8.1f} s   (start-up, imports, checkpoints)")


if __name__ == "__main__":
    main()
