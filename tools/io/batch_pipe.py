"""Batches of events handed to a child process, so that writing them overlaps with Pythia8's generation.

Pythia's ``nextBatch`` holds the GIL for a whole batch, so a writer thread could not run meanwhile; a process on
the other core can. The parent hands each batch over as flat numpy columns in a shared-memory segment plus a small
header through a pipe: a memcpy, where megabytes pickled through a pipe would block the parent until the child had
read them. The child copies the columns out, gives them to its consumer and acknowledges, and the parent reuses the
segment (a fresh one costs ~10× the copy in page faults); at most ``MAX_IN_FLIGHT`` segments exist, so memory stays
bounded when the child falls behind. A batch is split by events into segments of at most ``CHUNK_PARTICLES``
particles, so that those of both writers fit Docker's 64 MB /dev/shm.

Failures cannot pass silently or hang: the child reports its consumer's exceptions through the pipe, the parent
watches the child's liveness while it waits, and the child exits at the end of its input pipe when the parent dies,
even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeAlias

from madagents_tools.contract import exit_without_teardown

__all__ = ["BatchConsumer", "BatchPipe", "BatchPipeError", "Columns"]

CHUNK_PARTICLES = 1 << 16
"""Particles per segment: ~4 MB (56 bytes a particle), so the ``MAX_IN_FLIGHT`` segments of the final-state and the
HepMC3 writer together take ~30 MB of Docker's 64 MB /dev/shm."""
MAX_IN_FLIGHT = 3
"""Segments handed over but not yet consumed; the parent waits when the child is this far behind."""
POLL_SECONDS = 0.2
"""How often a waiting parent checks whether the child is still alive."""

Columns: TypeAlias = dict[str, Any]
"""Named numpy arrays."""
Layout: TypeAlias = list[tuple[str, str, tuple[int, ...], int]]
"""(column, dtype, shape, byte offset) of each column in a segment."""
Header: TypeAlias = tuple[str, Layout, list[str], int, Any]
"""Segment name, its layout, which of its columns are per event, the number of its first event, the batch's extra."""
Reply: TypeAlias = tuple[Literal["consumed", "closed", "failed"], Any, Any]
"""("consumed", seconds, None), ("closed", seconds, what the consumer's close returned) or ("failed", message, None)."""


class BatchPipeError(Exception):
    """The child's consumer failed, or the child died."""


class BatchConsumer(Protocol):
    """The child's side: what it does with each chunk of events, and with the end of them."""

    def consume(self, particles: Columns, events: Columns, first: int, extra: Any) -> None:
        """``particles``: per-particle columns; ``events``: per-event columns, with ``ends``, the cumulative
        particle count of each event; ``first``: the number of the first event."""

    def close(self) -> Any:
        """The end of the input: finish the output; what is returned reaches the parent's ``finish``."""


class BatchPipe:
    """Parent side: ``send`` each batch, then ``finish``; leaving the ``with`` block early kills the child.

    ``make_consumer(*args)`` builds the consumer in the child: a module-level callable, since the child is a fresh
    interpreter (spawn, not fork: it shares nothing with Pythia's C++ state). Errors name the child by ``what``
    ("the HepMC3 writer process died") and its work by ``doing`` ("writing the HepMC3 file failed: ...").
    """

    def __init__(self, what: str, doing: str, make_consumer: Callable[..., BatchConsumer], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.what, self.doing = what, doing
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(make_consumer, args, child_end), name=what.replace(" ", "-"), daemon=True
        )
        self._process.start()
        child_end.close()  # the child's copy is its only one, so it sees EOF when the parent dies
        self._free: list[SharedMemory] = []
        self._in_flight: deque[SharedMemory] = deque()
        self._closed = False
        self._returned: Any = None
        self.child_seconds = 0.0
        """The child's own time spent consuming and closing."""
        self.waiting_seconds = 0.0
        """The parent's time spent waiting for the child: a backlog of ``MAX_IN_FLIGHT`` segments, or the end."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.abort()

    def send(self, particles: Columns, events: Columns, first: int, extra: Any = None) -> None:
        """Hand over a batch whose first event gets number ``first``; ``events["ends"]`` splits ``particles``."""
        for begin, chunk_particles, chunk_events in _chunks(particles, events, CHUNK_PARTICLES):
            self._wait_until(lambda: len(self._in_flight) < MAX_IN_FLIGHT)
            columns = chunk_particles | chunk_events
            layout, size = _layout(columns)
            segment = self._segment(size)
            self._in_flight.append(segment)
            _fill(segment, layout, columns)
            self._send((segment.name, layout, list(chunk_events), first + begin, extra))

    def finish(self) -> Any:
        """Wait until the child has consumed everything and closed; return what its consumer's close returned."""
        self._send(None)
        self._wait_until(lambda: self._closed)
        self._process.join()
        return self._returned

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

    def summary(self) -> str:
        """The child's time and the parent's waiting, for the tool log."""
        return f"{self.what} process {self.child_seconds:.2f} s, waited for {self.waiting_seconds:.2f} s"

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
        # also reports a failure early, before the backlog fills up; after "closed" comes the end of the pipe only
        while not self._closed and self._connection.poll():
            self._handle(self._receive())
        start = time.perf_counter()
        while not condition():
            if self._connection.poll(POLL_SECONDS):
                self._handle(self._receive())
            elif not self._process.is_alive() and not self._connection.poll():
                raise BatchPipeError(self._died())
        self.waiting_seconds += time.perf_counter() - start

    def _receive(self) -> Reply:
        try:
            reply: Reply = self._connection.recv()
        except (EOFError, ConnectionResetError):  # a reset when it died without reading all the parent sent
            self._process.join()
            raise BatchPipeError(self._died()) from None
        return reply

    def _died(self) -> str:
        return f"the {self.what} process died (exit code {self._process.exitcode})"

    def _handle(self, reply: Reply) -> None:
        kind, value, returned = reply
        if kind == "failed":
            msg = f"{self.doing} failed: {value}"
            raise BatchPipeError(msg)
        self.child_seconds += value
        if kind == "consumed":
            self._free.append(self._in_flight.popleft())
        else:
            self._closed, self._returned = True, returned


def _chunks(particles: Columns, events: Columns, limit: int) -> Iterator[tuple[int, Columns, Columns]]:
    """Split a batch by events into chunks of at most ``limit`` particles (at least one event each)."""
    import numpy as np  # noqa: PLC0415

    ends = events["ends"]
    begin = 0
    while begin < len(ends):
        start = int(ends[begin - 1]) if begin else 0
        stop = max(int(np.searchsorted(ends, start + limit, side="right")), begin + 1)
        end = int(ends[stop - 1])
        chunk_events = {name: column[begin:stop] for name, column in events.items()}
        chunk_events["ends"] = ends[begin:stop] - start
        yield begin, {name: column[start:end] for name, column in particles.items()}, chunk_events
        begin = stop


def _layout(columns: Columns) -> tuple[Layout, int]:
    layout: Layout = []
    size = 0
    for name, column in columns.items():
        layout.append((name, column.dtype.str, column.shape, size))
        size += -(-column.nbytes // 8) * 8  # keep every column 8-byte aligned
    return layout, size


def _fill(segment: SharedMemory, layout: Layout, columns: Columns) -> None:
    import numpy as np  # noqa: PLC0415

    for (_, dtype, shape, offset), column in zip(layout, columns.values(), strict=True):
        np.ndarray(shape, dtype, segment.buf, offset)[...] = column  # a temporary view, so close() can unmap


def _release(segment: SharedMemory) -> None:
    segment.close()
    with contextlib.suppress(FileNotFoundError):
        segment.unlink()


def _serve(make_consumer: Callable[..., BatchConsumer], args: tuple[Any, ...], connection: Connection) -> None:
    """The child's main: consume every chunk the parent hands over until its ``None`` or the end of the pipe."""
    try:
        start = time.perf_counter()
        consumer = make_consumer(*args)
        seconds = time.perf_counter() - start
        while (header := connection.recv()) is not None:
            start = time.perf_counter()  # after recv: waiting for the parent is not the child's time
            name, layout, per_event, first, extra = header
            columns = _unpack(name, layout)
            particles = {key: value for key, value in columns.items() if key not in per_event}
            consumer.consume(particles, {key: columns[key] for key in per_event}, first, extra)
            connection.send(("consumed", seconds + time.perf_counter() - start, None))
            seconds = 0.0
        start = time.perf_counter()
        returned = consumer.close()
        connection.send(("closed", time.perf_counter() - start, returned))
    except EOFError:  # the parent died: nobody is left to report to
        return
    except Exception as exc:  # the parent turns it into the tool's error
        with contextlib.suppress(OSError):
            connection.send(("failed", f"{type(exc).__name__}: {exc}", None))
        return
    connection.close()
    exit_without_teardown(0)  # the parent waits for this exit: the file is closed, the teardown is wasted time


def _unpack(name: str, layout: Layout) -> Columns:
    """Copy the columns out, so that the parent may refill the segment: a copy is cheap beside consuming them."""
    import numpy as np  # noqa: PLC0415

    segment = SharedMemory(name)
    try:
        return {column: np.ndarray(shape, dtype, segment.buf, offset).copy() for column, dtype, shape, offset in layout}
    finally:
        segment.close()  # the parent owns the segment and unlinks it
