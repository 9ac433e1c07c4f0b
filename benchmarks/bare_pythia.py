"""The baseline of benchmarks/overhead.py: Pythia8 alone, with the settings and seed a run uses, nothing written.

Usage: python benchmarks/bare_pythia.py SETTINGS_FILE EVENTS. SETTINGS_FILE holds the Pythia8 lines of the run's
generation step, seed included, one per line (overhead.py writes it from the run's plan). Run as its own process
that imports nothing but Pythia8, so that its time is starting Python, Pythia8's initialisation and the events.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pythia8mc

QUIET = [f"Next:{name} = 0" for name in ("numberShowEvent", "numberShowInfo", "numberShowProcess", "numberCount")]


def generate(settings: list[str], events: int) -> None:
    pythia = pythia8mc.Pythia("", False)
    for line in [*settings, *QUIET]:
        pythia.readString(line)
    pythia.init()
    accepted = 0
    while accepted < events:
        accepted += bool(pythia.next())


if __name__ == "__main__":
    generate(Path(sys.argv[1]).read_text().splitlines(), int(sys.argv[2]))
