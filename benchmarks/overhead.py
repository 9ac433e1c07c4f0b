"""What the architecture costs: ``madagents run`` wall time vs a bare Pythia8 loop with the same settings.

Usage: python benchmarks/overhead.py [--events 10000] [--sandbox local|docker]. Prints both times and their
ratio (goal ≤ 1.10 at 10k events), and the time of each role from the run's trace, so the cost of the
reviewer's reproduction check is visible.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pythia8mc

from madagents.agents.planner import plan_workflow
from madagents.rundir import RunDir
from madagents.workflow import load_workflow
from madagents_tools.generation import pythia8_generate

WORKFLOW = Path(__file__).resolve().parent.parent / "workflows" / "drell_yan.yaml"
SEED = 12345


def bare_pythia(events: int) -> float:
    request = plan_workflow(load_workflow(WORKFLOW, events=events, seed=SEED)).step_request(pythia8_generate.Request)
    start = time.monotonic()
    pythia = pythia8mc.Pythia("", False)
    quiet = [f"Next:{name} = 0" for name in ("numberShowEvent", "numberShowInfo", "numberShowProcess", "numberCount")]
    for line in [*request.settings, "Random:setSeed = on", f"Random:seed = {request.seed}", *quiet]:
        pythia.readString(line)
    pythia.init()
    accepted = 0
    while accepted < events:
        accepted += bool(pythia.next())
    return time.monotonic() - start


def madagents_run(events: int, out: Path, sandbox: str) -> float:
    start = time.monotonic()
    command = [
        sys.executable,
        "-m",
        "madagents",
        "run",
        str(WORKFLOW),
        "--events",
        str(events),
        "--seed",
        str(SEED),
        "--out",
        str(out),
        "--sandbox",
        sandbox,
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--sandbox", choices=["local", "docker"], default="local")
    args = parser.parse_args()
    events = args.events
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run"
        run_s = madagents_run(events, out, args.sandbox)
        nodes = {e.node: e.seconds for e in RunDir(out).trace_events() if e.event == "node_end"}
    bare_s = bare_pythia(events)
    without_review = run_s - (nodes.get("reviewer") or 0.0)
    print(f"events: {events}, sandbox: {args.sandbox}")
    print(f"bare Pythia8 loop:        {bare_s:8.1f} s")
    print(f"madagents run:            {run_s:8.1f} s   ratio {run_s / bare_s:.3f}   (goal ≤ 1.10)")
    print(f"  without the reviewer:   {without_review:8.1f} s   ratio {without_review / bare_s:.3f}")
    for node, seconds in nodes.items():
        print(f"  {node:<10} {seconds or 0.0:8.1f} s")


if __name__ == "__main__":
    main()
