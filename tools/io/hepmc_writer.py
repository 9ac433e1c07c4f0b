"""HepMC3 ASCII writing in a child process (batch_pipe), so that it overlaps with Pythia8's generation.

The parent keeps only the cheap, vectorised part (which particles to keep); the child writes the text and hashes
the file as it grows, so the parent need not read it back at the end.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from madagents_tools.io.batch_pipe import BatchPipe, Columns

if TYPE_CHECKING:
    from madagents_tools.io.final_state import ParticleBatch

__all__ = ["CrossSection", "HepmcWriter"]

BEAM_ENTRIES = (1, 2)
"""The beams' positions in Pythia's event record; entry 0 stands for the event as a whole."""
HEPMC_BEAM, HEPMC_FINAL, HEPMC_DECAYED = 4, 1, 2
HEAVY_QUARKS = (4, 5)
"""c and b quarks of the history are kept (as decayed, HepMC status 2): Delphes' jet flavour and b-tagging match
jets to them within ΔR, and without them every jet is light."""
PARTICLE_COLUMNS = ("px", "py", "pz", "e", "m", "pid", "status", "parents")
"""``GenEvent.from_hepevt``'s arrays, in its argument order."""

CrossSection: TypeAlias = tuple[float, float, int, int]
"""σ and its error in pb, accepted and tried events: the running estimate after the batch."""


class HepmcWriter(BatchPipe):
    """``write`` each batch, then ``finish``, which returns the file's SHA-256; leaving the ``with`` block early
    kills the writer."""

    def __init__(self, path: str | Path) -> None:
        super().__init__("HepMC3 writer", "writing the HepMC3 file", _HepmcFile, str(path))

    def write(self, batch: ParticleBatch, first: int, cross_section: CrossSection) -> None:
        """Hand over the beams and final state of ``batch``, whose first event gets number ``first``."""
        particles, events = _columns(batch)
        self.send(particles, events, first, cross_section)


def _columns(batch: ParticleBatch) -> tuple[Columns, Columns]:
    """Beams → one vertex → final state and the c and b quarks of the history: the full history is ~190 kB per
    event, and Delphes' jet flavour (b-tagging) needs only the heavy quarks."""
    import numpy as np  # noqa: PLC0415

    beam = np.isin(batch.index, BEAM_ENTRIES)
    final = batch.status > 0
    keep = beam | final | np.isin(np.abs(batch.pid), HEAVY_QUARKS)
    kept_beam = beam[keep]
    particles = {name: getattr(batch, name)[keep] for name in ("px", "py", "pz", "e", "m", "pid")}
    status = np.where(final[keep], HEPMC_FINAL, HEPMC_DECAYED)
    particles["status"] = np.where(kept_beam, HEPMC_BEAM, status).astype(np.int32)
    # zero-based parents: none for the beams, the two beams (the first two of each event) for the rest
    particles["parents"] = np.where(kept_beam[:, np.newaxis], -1, np.array([0, 1])).astype(np.int32)
    ends = np.cumsum(np.bincount(batch.event[keep], minlength=len(batch.counts)))
    return particles, {"ends": ends, "weight": batch.weight}


class _HepmcFile:
    """The child's consumer: the events as HepMC3 text, and the SHA-256 of the file."""

    def __init__(self, path: str) -> None:
        import pyhepmc  # noqa: PLC0415

        self._writer = pyhepmc.io.WriterAscii(path)
        self._check()
        # hash what the writer has flushed so far, while the parent generates: the file only grows
        self._written = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._digest = hashlib.sha256()

    def consume(self, particles: Columns, events: Columns, first: int, extra: Any) -> None:
        import pyhepmc  # noqa: PLC0415

        sigma, sigma_err, accepted, tried = extra
        arrays = [particles[name] for name in PARTICLE_COLUMNS]
        cross_section = pyhepmc.GenCrossSection()  # the running estimate; the tool's result carries the final σ
        cross_section.set_cross_section(sigma, sigma_err, accepted, tried)
        event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)  # from_hepevt clears all but the units
        ends = events["ends"].tolist()
        for i, (begin, end) in enumerate(zip([0, *ends], ends, strict=False)):
            cut = slice(begin, end)
            event.from_hepevt(first + i, *(column[cut] for column in arrays), fortran=False)
            event.weights = [events["weight"][i]]
            event.cross_section = cross_section
            self._writer.write_event(event)
        self._check()
        self._digest.update(self._written.read())

    def close(self) -> str:
        try:
            self._writer.close()
            self._check()
            self._digest.update(self._written.read())
        finally:
            self._written.close()
        return self._digest.hexdigest()

    def _check(self) -> None:
        if self._writer.failed():
            msg = "the writer failed (cannot open the file, or the disk is full)"
            raise OSError(msg)
