"""The particle-level TTree, written by a child process (batch_pipe) while Pythia8 generates the next batches.

Finding the final-state objects of a batch and writing them took 1.0 s of every 10 000 Drell–Yan events after
Pythia8's own; on the other core it overlaps with generation. A small sample is written in the generator's own
process: below ``PROCESS_FROM_EVENTS`` the objects cost less than starting the writer (its interpreter imports
numpy, awkward and uproot, ~0.6 s). So is a sample with no idle core beside it (chunks side by side on every core):
there the child would take its CPU time from a generator, and about twice what the objects cost here (measured
per 10 000 events: 2.4 s in the child, 1.1 s here: the copy and the child's interpreter). Baskets hold
``basket_events`` events or a few more (whole chunks), so memory does not grow with the sample.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from madagents_tools.io.batch_pipe import BatchPipe, Columns
from madagents_tools.io.final_state import BRANCHES, PARTICLE_FIELDS, final_state_columns, particle_batch

if TYPE_CHECKING:
    from madagents_tools.io.final_state import JetDefinition, ParticleBatch

__all__ = ["PROCESS_FROM_EVENTS", "FinalStateWriter"]

PROCESS_FROM_EVENTS = 5000
"""Samples of this many events or more are written by a child process (at 0.1 ms an event in the generator)."""


class FinalStateWriter:
    """``write`` each batch, then ``finish``; leaving the ``with`` block early stops the writer."""

    def __init__(
        self,
        path: str | Path,
        lepton_pt_min_gev: float,
        jets: JetDefinition | None,
        basket_events: int,
        events: int,
        *,
        spare_core: bool = True,
    ) -> None:
        args = (str(path), lepton_pt_min_gev, jets, basket_events)
        in_process = events < PROCESS_FROM_EVENTS or not spare_core
        self._here = _RootFile(*args) if in_process else None
        self._child = None if in_process else BatchPipe("final-state writer", "writing the ROOT file", _RootFile, *args)
        self._seconds = 0.0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._child is not None:
            self._child.abort()
        elif kind is not None and self._here is not None:  # the basket not yet written is dropped with the file
            self._here.discard()

    def write(self, batch: ParticleBatch, first: int) -> None:
        """Hand over the particles of ``batch``, whose first event gets number ``first``."""
        import numpy as np  # noqa: PLC0415

        particles = {name: getattr(batch, name) for name in PARTICLE_FIELDS}
        events = {"ends": np.cumsum(batch.counts), "weight": batch.weight, "mhat": batch.mhat}
        if self._child is not None:
            self._child.send(particles, events, first)
            return
        assert self._here is not None
        start = time.perf_counter()
        self._here.consume(particles, events, first, None)
        self._seconds += time.perf_counter() - start

    def finish(self) -> None:
        """Write the last basket and close the file (waiting for the child to have done so)."""
        if self._child is not None:
            self._child.finish()
            return
        assert self._here is not None
        self._here.close()

    def summary(self) -> str:
        return self._child.summary() if self._child is not None else f"final-state objects {self._seconds:.2f} s"


class _RootFile:
    """The consumer (in the child, or in the generator for a small sample): each chunk's final-state objects, written
    to the TTree ``events`` basket by basket."""

    def __init__(self, path: str, lepton_pt_min_gev: float, jets: JetDefinition | None, basket_events: int) -> None:
        import uproot  # noqa: PLC0415

        self._lepton_pt_min_gev, self._jets, self._basket_events = lepton_pt_min_gev, jets, basket_events
        self._file = uproot.recreate(path)
        branches = {name: kind for name, kind in BRANCHES.items() if name != "jet" or jets}
        self._tree = self._file.mktree("events", branches)
        self._basket: list[Columns] = []
        self._in_basket = 0

    def consume(self, particles: Columns, events: Columns, first: int, extra: Any) -> None:  # noqa: ARG002
        import numpy as np  # noqa: PLC0415

        counts = np.diff(events["ends"], prepend=0)
        batch = particle_batch(counts, particles, weight=events["weight"], mhat=events["mhat"])
        self._basket.append(final_state_columns(batch, self._lepton_pt_min_gev, self._jets, first))
        self._in_basket += len(counts)
        if self._in_basket >= self._basket_events:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._file.close()

    def discard(self) -> None:
        self._file.close()

    def _flush(self) -> None:
        if self._basket:
            self._tree.extend(_joined(self._basket))
        self._basket.clear()
        self._in_basket = 0


def _joined(batches: list[Columns]) -> Columns:
    """The columns of consecutive batches as one: numpy arrays for flat branches, awkward arrays for lists."""
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    if len(batches) == 1:
        return batches[0]
    return {
        name: (np.concatenate if isinstance(column, np.ndarray) else ak.concatenate)([b[name] for b in batches])
        for name, column in batches[0].items()
    }
