"""HepMC3 ASCII writing in a child process, so that it overlaps with Pythia8's generation on another core.

Pythia's ``nextBatch`` holds the GIL for a whole batch, so a writer thread could not run meanwhile; a process
can. The parent keeps only the cheap, vectorised part (which particles to keep) and hands each batch over as
flat numpy columns in a shared-memory segment plus a small header through a pipe: a memcpy, where megabytes
pickled through a pipe would block the parent until the child had read them. The child copies the columns
out and acknowledges, and the parent reuses the segment (a fresh one costs ~10× the copy in page faults); at
most ``MAX_IN_FLIGHT`` segments exist, so memory stays bounded when the writer falls behind. The child also
hashes the file as it grows, so the parent need not read it back at the end.

Failures cannot pass silently or hang: the child reports its exceptions (and ``writer.failed()``, a full
disk) through the pipe, the parent watches the child's liveness while it waits, and the child exits at the
end of its input pipe when the parent dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from madagents_tools.io.final_state import ParticleBatch

__all__ = ["CrossSection", "HepmcWriter", "HepmcWriterError"]

BEAM_ENTRIES = (1, 2)
"""The beams' positions in Pythia's event record; entry 0 stands for the event as a whole."""
HEPMC_BEAM, HEPMC_FINAL, HEPMC_DECAYED = 4, 1, 2
HEAVY_QUARKS = (4, 5)
"""c and b quarks of the history are kept (as decayed, HepMC status 2): Delphes' jet flavour and b-tagging match
jets to them within ΔR, and without them every jet is light."""
PARTICLE_COLUMNS = ("px", "py", "pz", "e", "m", "pid", "status", "parents")
"""``GenEvent.from_hepevt``'s arrays, in its argument order."""
CHUNK_PARTICLES = 1 << 17
"""Particles per segment (~7 MB): a large batch is split by events, so segments fit Docker's 64 MB /dev/shm."""
MAX_IN_FLIGHT = 3
"""Segments handed over but not yet written; the parent waits when the writer is this far behind."""
POLL_SECONDS = 0.2
"""How often a waiting parent checks whether the child is still alive."""

CrossSection: TypeAlias = tuple[float, float, int, int]
"""σ and its error in pb, accepted and tried events: the running estimate after the batch."""
Layout: TypeAlias = list[tuple[str, str, tuple[int, ...], int]]
"""(column, dtype, shape, byte offset) of each column in a segment."""
Header: TypeAlias = tuple[str, Layout, int, CrossSection]
"""Segment name, its layout, the number of its first event and the cross section."""
Reply: TypeAlias = tuple[Literal["written", "closed", "failed"], Any, Any]
"""("written", seconds, None), ("closed", seconds, the file's SHA-256) or ("failed", message, None)."""


class HepmcWriterError(Exception):
    """Writing the HepMC3 file failed in the child, or the child died."""


class HepmcWriter:
    """Parent side: ``write`` each batch, then ``finish``; leaving the ``with`` block early kills the child."""

    def __init__(self, path: str | Path) -> None:
        # spawn, not fork: the child is a fresh interpreter that shares nothing with Pythia's C++ state
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(str(path), child_end), name="hepmc-writer", daemon=True)
        self._process.start()
        child_end.close()  # the child's copy is its only one, so it sees EOF when the parent dies
        self._free: list[SharedMemory] = []
        self._in_flight: deque[SharedMemory] = deque()
        self._closed = False
        self.sha256 = ""
        """Hex SHA-256 of the complete file, known after ``finish``."""
        self.writer_seconds = 0.0
        """The child's own time spent writing and closing the file."""
        self.waiting_seconds = 0.0
        """The parent's time spent waiting for the child: a backlog of ``MAX_IN_FLIGHT`` segments, or the end."""

    def __enter__(self) -> HepmcWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.abort()

    def write(self, batch: ParticleBatch, first: int, cross_section: CrossSection) -> None:
        """Hand over the beams and final state of ``batch``, whose first event gets number ``first``."""
        for begin, chunk in _chunks(_columns(batch), CHUNK_PARTICLES):
            self._wait_until(lambda: len(self._in_flight) < MAX_IN_FLIGHT)
            layout, size = _layout(chunk)
            segment = self._segment(size)
            self._in_flight.append(segment)
            _fill(segment, layout, chunk)
            self._send((segment.name, layout, first + begin, cross_section))

    def finish(self) -> None:
        """Wait until the child has written everything and closed the file; raise if it failed."""
        self._send(None)
        self._wait_until(lambda: self._closed)
        self._process.join()

    def abort(self) -> None:
        """Stop the child at once (a no-op after ``finish``) and free the segments."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        for segment in (*self._free, *self._in_flight):
            _release(segment)
        self._free.clear()
        self._in_flight.clear()
        self._connection.close()

    def _segment(self, size: int) -> SharedMemory:
        """A free segment of at least ``size`` bytes, reused if one is big enough."""
        segment = self._free.pop() if self._free else None
        if segment is not None and segment.size < size:
            _release(segment)
            segment = None
        if segment is None:  # a quarter more, so that the next, slightly larger chunk still fits
            segment = SharedMemory(create=True, size=size + size // 4)
        return segment

    def _send(self, header: Header | None) -> None:
        try:
            self._connection.send(header)
        except OSError:  # the child is gone; its own report, if it sent one, says more than a broken pipe
            self._wait_until(lambda: False)

    def _wait_until(self, condition: Callable[[], bool]) -> None:
        """Handle the replies that have arrived, then wait for more until ``condition()`` holds."""
        while self._connection.poll():  # also reports a failure early, before the backlog fills up
            self._handle(self._receive())
        start = time.perf_counter()
        while not condition():
            if self._connection.poll(POLL_SECONDS):
                self._handle(self._receive())
            elif not self._process.is_alive() and not self._connection.poll():
                msg = f"the HepMC3 writer process died (exit code {self._process.exitcode})"
                raise HepmcWriterError(msg)
        self.waiting_seconds += time.perf_counter() - start

    def _receive(self) -> Reply:
        try:
            reply: Reply = self._connection.recv()
        except (EOFError, ConnectionResetError):  # a reset when it died without reading all the parent sent
            self._process.join()
            msg = f"the HepMC3 writer process died (exit code {self._process.exitcode})"
            raise HepmcWriterError(msg) from None
        return reply

    def _handle(self, reply: Reply) -> None:
        kind, value, sha256 = reply
        if kind == "failed":
            msg = f"writing the HepMC3 file failed: {value}"
            raise HepmcWriterError(msg)
        self.writer_seconds += value
        if kind == "written":
            self._free.append(self._in_flight.popleft())
        else:
            self._closed, self.sha256 = True, sha256


def _columns(batch: ParticleBatch) -> dict[str, Any]:
    """Beams → one vertex → final state and the c and b quarks of the history: the full history is ~190 kB per
    event, and Delphes' jet flavour (b-tagging) needs only the heavy quarks."""
    import numpy as np  # noqa: PLC0415

    beam = np.isin(batch.index, BEAM_ENTRIES)
    final = batch.status > 0
    keep = beam | final | np.isin(np.abs(batch.pid), HEAVY_QUARKS)
    kept_beam = beam[keep]
    columns = {name: getattr(batch, name)[keep] for name in ("px", "py", "pz", "e", "m", "pid")}
    status = np.where(final[keep], HEPMC_FINAL, HEPMC_DECAYED)
    columns["status"] = np.where(kept_beam, HEPMC_BEAM, status).astype(np.int32)
    # zero-based parents: none for the beams, the two beams (the first two of each event) for the rest
    columns["parents"] = np.where(kept_beam[:, np.newaxis], -1, np.array([0, 1])).astype(np.int32)
    columns["ends"] = np.cumsum(np.bincount(batch.event[keep], minlength=len(batch.counts)))
    columns["weight"] = batch.weight
    return columns


def _chunks(columns: dict[str, Any], limit: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """Split a batch's columns by events into chunks of at most ``limit`` particles (at least one event)."""
    import numpy as np  # noqa: PLC0415

    ends = columns["ends"]
    begin = 0
    while begin < len(ends):
        start = int(ends[begin - 1]) if begin else 0
        stop = max(int(np.searchsorted(ends, start + limit, side="right")), begin + 1)
        end = int(ends[stop - 1])
        chunk = {name: columns[name][start:end] for name in PARTICLE_COLUMNS}
        yield begin, chunk | {"ends": ends[begin:stop] - start, "weight": columns["weight"][begin:stop]}
        begin = stop


def _layout(columns: dict[str, Any]) -> tuple[Layout, int]:
    layout: Layout = []
    size = 0
    for name, column in columns.items():
        layout.append((name, column.dtype.str, column.shape, size))
        size += -(-column.nbytes // 8) * 8  # keep every column 8-byte aligned
    return layout, size


def _fill(segment: SharedMemory, layout: Layout, columns: dict[str, Any]) -> None:
    import numpy as np  # noqa: PLC0415

    for (_, dtype, shape, offset), column in zip(layout, columns.values(), strict=True):
        np.ndarray(shape, dtype, segment.buf, offset)[...] = column  # a temporary view, so close() can unmap


def _release(segment: SharedMemory) -> None:
    segment.close()
    with contextlib.suppress(FileNotFoundError):
        segment.unlink()


def _serve(path: str, connection: Connection) -> None:
    """The child's main: write every chunk the parent hands over until its ``None`` or the end of the pipe."""
    try:
        import pyhepmc  # noqa: PLC0415

        start = time.perf_counter()
        writer = pyhepmc.io.WriterAscii(path)
        try:
            _check(writer)
            # hash what the writer has flushed so far, while the parent generates: the file only grows
            with open(path, "rb") as written:
                digest = hashlib.sha256()
                seconds = time.perf_counter() - start
                while (header := connection.recv()) is not None:
                    start = time.perf_counter()  # after recv: waiting for the parent is not writing time
                    _write_chunk(writer, header)
                    digest.update(written.read())
                    connection.send(("written", time.perf_counter() - start, None))
                start = time.perf_counter()
                writer.close()
                _check(writer)
                digest.update(written.read())
        finally:
            writer.close()  # a second close does nothing
        connection.send(("closed", seconds + time.perf_counter() - start, digest.hexdigest()))
    except EOFError:  # the parent died: nobody is left to report to
        return
    except Exception as exc:  # the parent turns it into the tool's error
        with contextlib.suppress(OSError):
            connection.send(("failed", f"{type(exc).__name__}: {exc}", None))


def _check(writer: Any) -> None:
    if writer.failed():
        msg = "the writer failed (cannot open the file, or the disk is full)"
        raise OSError(msg)


def _write_chunk(writer: Any, header: Header) -> None:
    import pyhepmc  # noqa: PLC0415

    name, layout, first, (sigma, sigma_err, accepted, tried) = header
    columns = _unpack(name, layout)
    particles = [columns[name] for name in PARTICLE_COLUMNS]
    cross_section = pyhepmc.GenCrossSection()  # the running estimate; the tool's result carries the final σ
    cross_section.set_cross_section(sigma, sigma_err, accepted, tried)
    event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)  # from_hepevt clears all but the units
    ends = columns["ends"].tolist()
    for i, (begin, end) in enumerate(zip([0, *ends], ends, strict=False)):
        cut = slice(begin, end)
        event.from_hepevt(first + i, *(column[cut] for column in particles), fortran=False)
        event.weights = [columns["weight"][i]]
        event.cross_section = cross_section
        writer.write_event(event)
    _check(writer)


def _unpack(name: str, layout: Layout) -> dict[str, Any]:
    """Copy the columns out, so that the parent may refill the segment: a copy is cheap beside writing the text."""
    import numpy as np  # noqa: PLC0415

    segment = SharedMemory(name)
    try:
        return {column: np.ndarray(shape, dtype, segment.buf, offset).copy() for column, dtype, shape, offset in layout}
    finally:
        segment.close()  # the parent owns the segment and unlinks it
