"""The baseline of benchmarks/overhead.py: Pythia8 alone, with the settings and seed a run uses, nothing written.

Usage: python benchmarks/bare_pythia.py SETTINGS_FILE EVENTS [--read-out]. SETTINGS_FILE holds the Pythia8 lines of
the run's generation step, seed included, one per line (overhead.py writes it from the run's plan). Run as its own
process that imports nothing but Pythia8, so that its time is starting Python, Pythia8's initialisation and the
events.

``next()`` leaves the events in Pythia8's C++ record. With ``--read-out`` they are read out as a run's generator
reads them, in batches of 100 with ``nextBatch`` (an awkward array of every particle): the least any Python program
that looks at the events pays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pythia8mc

QUIET = [f"Next:{name} = 0" for name in ("numberShowEvent", "numberShowInfo", "numberShowProcess", "numberCount")]


BATCH = 100
"""pythia8_generate's default batch size."""


def generate(settings: list[str], events: int, *, read_out: bool) -> None:
    pythia = pythia8mc.Pythia("", False)
    for line in [*settings, *QUIET]:
        pythia.readString(line)
    pythia.init()
    accepted = 0
    while accepted < events:
        if read_out:
            size = min(BATCH, events - accepted)
            accepted += len(pythia.nextBatch(size, 10.0))
        else:
            accepted += bool(pythia.next())


if __name__ == "__main__":
    generate(Path(sys.argv[1]).read_text().splitlines(), int(sys.argv[2]), read_out="--read-out" in sys.argv[3:])
