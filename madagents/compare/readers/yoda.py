"""YODA text files (YODA 1 and 2): Histo1D, Scatter2D and Estimate1D blocks, read without the YODA library.

A Histo1D holds sums of weights per bin (Rivet scales them to pb): it is read as Monte Carlo and divided by the
widths. Scatter2D and Estimate1D points are published values with errors, summed in quadrature per side. YODA states
no units, so a run is compared with a YODA file by shape (``--shape-only`` or ``--normalised``).
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from madagents.compare.histogram import Binned, Floats, from_weights
from madagents.compare.sample import Sample
from madagents.errors import UserInputError

__all__ = ["read_yoda"]

YODA2_VERSION = 3
"""YODA 2 writes its objects as version 3 blocks (``BEGIN YODA_HISTO1D_V3``), with an ``Edges(A1)`` line."""
_BEGIN = re.compile(r"^BEGIN YODA_(\w+?)_V(\d+)\s+(\S+)")


def read_yoda(path: Path) -> Sample:
    blocks: dict[str, Binned] = {}
    skipped: list[str] = []
    for kind, version, object_path, body in _blocks(_read_text(path)):
        reader = _READERS.get(kind)
        if reader is None:
            skipped.append(f"{object_path} ({kind.lower()})")
            continue
        try:
            blocks[object_path] = reader(object_path, _data_lines(body), version)
        except (ValueError, IndexError, StopIteration) as exc:
            msg = f"{path}: the YODA block {object_path} cannot be read ({exc or 'no Edges line'}); is it complete?"
            raise UserInputError(msg) from None
    if not blocks:
        msg = f"{path} holds no YODA Histo1D, Scatter2D or Estimate1D block (BEGIN YODA_… lines); give a .yoda file"
        raise UserInputError(msg)
    # /REF/A/d01 pairs by name with a run's /A/d01, unless the file holds both: then each keeps its path
    histograms = {}
    for object_path, histogram in blocks.items():
        short = object_path.removeprefix("/REF")
        name = object_path if short != object_path and short in blocks else short
        histograms[name] = replace(histogram, name=name)
    notes = [f"{path.name} states no units; its values are taken as they are"]
    if skipped:
        notes.append(f"not compared (not 1D): {', '.join(skipped)}")
    return Sample(source="yoda", path=str(path), histograms=histograms, notes=notes)


def _blocks(text: str) -> Iterator[tuple[str, int, str, list[str]]]:
    """(type, version, path, lines) of each ``BEGIN YODA_…`` … ``END YODA_…`` block."""
    lines = iter(text.splitlines())
    for line in lines:
        begin = _BEGIN.match(line.strip())
        if begin is not None:
            body = list(itertools.takewhile(lambda inner: not inner.strip().startswith("END YODA_"), lines))
            yield begin.group(1).upper(), int(begin.group(2)), begin.group(3), body


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror or exc}"
        raise UserInputError(msg) from None
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError):
        msg = f"{path} is not YODA text (nor gzipped YODA text); give a file written by YODA or Rivet"
        raise UserInputError(msg) from None


def _data_lines(body: list[str]) -> list[str]:
    """The lines after the ``---`` that ends the header (YODA 2 writes ``Edges(A1): [...]`` there too)."""
    start = next((index + 1 for index, line in enumerate(body) if line.strip() == "---"), 0)
    return [line.strip() for line in body[start:] if line.strip() and not line.lstrip().startswith("#")]


def _floats(line: str) -> list[float]:
    return [float(field) for field in line.split()]


def _edges_line(lines: list[str]) -> tuple[Floats, list[str]]:
    """YODA 2's ``Edges(A1): [a, b, …]`` and the rows after it (underflow first, overflow last)."""
    index = next(i for i, line in enumerate(lines) if line.startswith("Edges("))
    edges = np.asarray(json.loads(lines[index].split(":", 1)[1]), dtype=np.float64)
    rows = lines[index + 1 :]
    if len(rows) != len(edges) + 1:
        msg = f"{len(edges) - 1} bins need {len(edges) + 1} rows with under- and overflow, found {len(rows)}"
        raise ValueError(msg)
    return edges, rows[1:-1]


def _histo1d(name: str, lines: list[str], version: int) -> Binned:
    if version >= YODA2_VERSION:  # YODA 2: sumW sumW2 sumW(A1) sumW2(A1) numEntries
        edges, rows = _edges_line(lines)
        columns = np.asarray([_floats(row) for row in rows], dtype=np.float64)
    else:  # YODA 1: xlow xhigh sumw sumw2 sumwx sumwx2 numEntries, after Total/Underflow/Overflow rows
        table = np.asarray([_floats(row) for row in lines if not row.split()[0].isalpha()], dtype=np.float64)
        edges, columns = np.append(table[:, 0], table[-1, 1]), table[:, 2:]
    return from_weights(name, edges, columns[:, 0], columns[:, 1], 1.0, None)


def _scatter2d(name: str, lines: list[str], version: int) -> Binned:
    del version  # xval xerr- xerr+ yval yerr- yerr+ in both YODA 1 and 2
    table = np.asarray([_floats(row)[:6] for row in lines], dtype=np.float64)
    lows, highs = table[:, 0] - table[:, 1], table[:, 0] + table[:, 2]
    if not np.allclose(highs[:-1], lows[1:]):
        msg = "its points' x errors do not make adjacent bins"
        raise ValueError(msg)
    return Binned(name, np.append(lows, highs[-1]), table[:, 3], np.abs(table[:, 4]), np.abs(table[:, 5]), "data")


def _estimate1d(name: str, lines: list[str], version: int) -> Binned:
    del version  # YODA 2 only: value errDn(1) errUp(1) errDn(2) errUp(2) …
    edges, rows = _edges_line(lines)
    values, down, up = [], [], []
    for row in rows:
        numbers = _floats(row)
        sides = [_sides(numbers[i], numbers[i + 1]) for i in range(1, len(numbers) - 1, 2)]
        values.append(numbers[0])
        down.append(math.sqrt(sum(below**2 for below, _ in sides)))
        up.append(math.sqrt(sum(above**2 for _, above in sides)))
    return Binned(name, edges, _array(values), _array(down), _array(up), "data")


def _array(numbers: list[float]) -> Floats:
    return np.asarray(numbers, dtype=np.float64)


def _sides(first: float, second: float) -> tuple[float, float]:
    """(below, above) of an error pair written signed (-0.5, 0.7) or as two sizes (0.5, 0.7)."""
    if first >= 0 and second >= 0:
        return first, second
    return abs(min(0.0, first, second)), max(0.0, first, second)


_READERS = {"HISTO1D": _histo1d, "SCATTER2D": _scatter2d, "ESTIMATE1D": _estimate1d}
