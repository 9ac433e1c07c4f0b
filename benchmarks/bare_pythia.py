"""The baseline of benchmarks/overhead.py: Pythia8 alone, with the settings and seed a run uses, nothing written.

Usage: python benchmarks/bare_pythia.py EVENTS SEED. Run as its own process, so that its time includes starting
Python and importing Pythia8, as a run's does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pythia8mc

from madagents.agents.planner import plan_workflow
from madagents.workflow import load_workflow
from madagents_tools.generation import pythia8_generate

WORKFLOW = Path(__file__).resolve().parent.parent / "workflows" / "drell_yan.yaml"


def generate(events: int, seed: int) -> None:
    request = plan_workflow(load_workflow(WORKFLOW, events=events, seed=seed)).step_request(pythia8_generate.Request)
    pythia = pythia8mc.Pythia("", False)
    quiet = [f"Next:{name} = 0" for name in ("numberShowEvent", "numberShowInfo", "numberShowProcess", "numberCount")]
    for line in [*request.settings, "Random:setSeed = on", f"Random:seed = {request.seed}", *quiet]:
        pythia.readString(line)
    pythia.init()
    accepted = 0
    while accepted < events:
        accepted += bool(pythia.next())


if __name__ == "__main__":
    generate(int(sys.argv[1]), int(sys.argv[2]))
