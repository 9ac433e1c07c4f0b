"""Readers for what MadGraph5_aMC@NLO writes: the run banner, LHE files, run and param cards, and its logs.

Pure functions on text (plus two small file readers), so each is unit-tested against real MG5 output in
``tests/fixtures/mg5``. Formats: Les Houches Event files, Alwall et al., hep-ph/0609017 and arXiv:1405.1067
(LHEF 3.0); SLHA param cards, Skands et al., hep-ph/0311123; the banner and run card are MG5's own
(arXiv:1405.0301).
"""

from __future__ import annotations

import gzip
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from madagents_tools.generation.decays import DecayChannel, DecayTable

__all__ = [
    "Banner",
    "CrossSection",
    "count_lhe_events",
    "init_cross_section",
    "log_failure",
    "parse_banner",
    "read_lhe_head",
    "run_card_values",
    "same_setting",
    "slha_decay_tables",
    "slha_value",
    "strip_ansi",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FAILURES = (
    # (marker, whether the error class and message follow on the next lines)
    # extended_cmd.nice_error_handling / nice_user_error / nice_config_error
    (re.compile(r'^Command ".*" interrupted (?:with error|in sub-command)'), True),
    (re.compile(r"^Error detected in "), True),
    (re.compile(r"^Survey return zero cross section"), False),
    (re.compile(r"(?i)critical error"), True),
    # a `set` line of a command file that MG5 could not map to a card entry: it warns and runs on without it
    (re.compile(r"^WARNING: invalid set command"), False),
    # a line of a command file that does not answer the question MG5 asked: the answers are out of step
    (re.compile(r"^This answer is not valid for current question"), False),
    (re.compile(r'^Command ".*" not recognized'), False),
)
_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]* : \S")
"""MG5's ``ErrorClass : message`` line, within a few lines after a marker (debug-file notes may come first)."""
ERROR_LOOKAHEAD = 4


@dataclass(frozen=True, slots=True)
class CrossSection:
    """A total cross section from the ``<init>`` block of an LHE file (summed over its processes)."""

    value_pb: float
    """Sum of XSECUP over the processes, in pb."""
    error_pb: float
    """XERRUP of the processes added in quadrature, in pb."""
    unit_weight_pb: float
    """Largest XMAXUP: for MG5 unweighted events, the magnitude of every event weight."""


@dataclass(frozen=True, slots=True)
class Banner:
    """The parts of an MG5 run banner (``Events/<run>/<run>_<tag>_banner.txt``) a reviewer checks."""

    mg5_version: str | None
    """``<MGVersion>``: the MG5 release that made the events."""
    proc_card: str
    """``<MG5ProcCard>``: the commands that generated the process."""
    run_card: str
    """``<MGRunCard>``: the run card actually used (MadEvent resets ``iseed`` to 0 in ``Cards/`` afterwards)."""
    param_card: str
    """``<slha>``: the param card actually used."""
    n_events: int | None
    """``Number of Events`` of ``<MGGenerationInfo>``."""
    sigma_pb: float | None
    """``Integrated weight (pb)`` of ``<MGGenerationInfo>``: the cross section, without its error."""


def strip_ansi(text: str) -> str:
    """Remove the terminal colour codes MG5 puts into its output."""
    return _ANSI.sub("", text)


def _block(text: str, tag: str) -> str:
    """Content of ``<tag>...</tag>`` (without a CDATA wrapper), or "" when the block is absent."""
    match = re.search(rf"<{tag}>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</{tag}>", text, re.DOTALL)
    return match.group(1).strip("\n") if match else ""


def parse_banner(text: str) -> Banner:
    """Read an MG5 banner, or the header of an MG5 LHE file (it holds the same blocks)."""
    info = _block(text, "MGGenerationInfo")
    events = re.search(r"Number of Events\s*:\s*(\d+)", info)
    sigma = re.search(r"Integrated weight \(pb\)\s*:\s*(\S+)", info)
    return Banner(
        mg5_version=_block(text, "MGVersion").strip() or None,
        proc_card=_block(text, "MG5ProcCard"),
        run_card=_block(text, "MGRunCard"),
        param_card=_block(text, "slha"),
        n_events=int(events.group(1)) if events else None,
        sigma_pb=float(sigma.group(1)) if sigma else None,
    )


def init_cross_section(text: str) -> CrossSection:
    """Total cross section and its error from an LHE ``<init>`` block.

    Line 1 of the block ends with NPRUP, the number of processes; each of the next NPRUP lines is
    ``XSECUP XERRUP XMAXUP LPRUP`` (hep-ph/0609017, section 2.2).
    """
    match = re.search(r"<init>(.*?)</init>", text, re.DOTALL)
    if match is None:
        msg = "no <init> block found: not a Les Houches Event file, or a truncated one"
        raise ValueError(msg)
    lines = [line.split() for line in match.group(1).strip().splitlines()]
    try:
        n_processes = int(lines[0][9])
        processes = [[float(word) for word in line[:3]] for line in lines[1 : 1 + n_processes]]
    except (IndexError, ValueError) as exc:
        msg = f"malformed <init> block ({exc}): {match.group(1).strip()[:200]!r}"
        raise ValueError(msg) from None
    if len(processes) != n_processes or n_processes == 0:
        msg = f"the <init> block announces {n_processes} processes but lists {len(processes)}"
        raise ValueError(msg)
    return CrossSection(
        value_pb=sum(sigma for sigma, _, _ in processes),
        error_pb=math.sqrt(sum(error**2 for _, error, _ in processes)),
        unit_weight_pb=max(abs(xmax) for _, _, xmax in processes),
    )


def _open_text(path: str | os.PathLike[str]) -> IO[str]:
    if os.fspath(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _lines(path: str | os.PathLike[str]) -> Iterator[str]:
    with _open_text(path) as stream:
        yield from stream


def read_lhe_head(path: str | os.PathLike[str]) -> str:
    """The text of an LHE file (plain or gzipped) up to and including ``</init>``: header, banner and init."""
    head = []
    for line in _lines(path):
        head.append(line)
        if line.lstrip().startswith("</init>"):
            break
    return "".join(head)


def count_lhe_events(path: str | os.PathLike[str]) -> int:
    """Number of ``<event>`` blocks, counted line by line (no XML parsing: fast, for a check before a run)."""
    return sum(1 for line in _lines(path) if line.lstrip().startswith(("<event>", "<event ")))


def run_card_values(text: str) -> dict[str, str]:
    """Parameter -> value of an MG5 run card, whose lines read ``value = name ! comment``."""
    values = {}
    for line in text.splitlines():
        body = line.split("!", 1)[0].strip()
        if body.startswith("#") or "=" not in body:
            continue
        value, _, name = body.rpartition("=")
        if re.fullmatch(r"[A-Za-z0-9_]+", name.strip()):
            values[name.strip().lower()] = value.strip()
    return values


def slha_value(text: str, block: str, ids: tuple[int, ...]) -> float | None:
    """Value of entry ``ids`` of SLHA block ``block`` (``DECAY`` lines: the width), or None if absent."""
    wanted = block.lower()
    current = None
    for words in _slha_lines(text):
        head = words[0].lower()
        if head == "decay":
            current = None
            if wanted == "decay" and _ints(words[1:-1]) == ids:
                return float(words[-1])
        elif head == "block":
            current = words[1].lower() if len(words) > 1 else None
        elif current == wanted and len(words) == len(ids) + 1 and _ints(words[:-1]) == ids:
            return float(words[-1])
    return None


def slha_decay_tables(text: str) -> list[DecayTable]:
    """The DECAY blocks of an SLHA card that list channels (``BR NDA ID1 ID2 ...`` lines); a bare width is skipped.

    MG5 writes channels when it computes a width (``DECAY <pdg> auto``); a width set by hand comes without them.
    """
    tables: list[DecayTable] = []
    current: DecayTable | None = None
    for head, *rest in _slha_lines(text):
        if head.lower() == "decay" and rest:
            current = DecayTable(pdg_id=int(rest[0]), channels=[])
            tables.append(current)
        elif head.lower() in {"decay", "block"}:
            current = None
        elif current is not None and rest:  # BR NDA ID1 ... IDn
            products = [int(word) for word in rest[1 : 1 + int(rest[0])]]
            current.channels.append(DecayChannel(products=products, branching_ratio=float(head), on=True))
    return [table for table in tables if table.channels]


def _slha_lines(text: str) -> Iterator[list[str]]:
    """The words of each SLHA line, comments dropped, blank lines skipped."""
    for line in text.splitlines():
        if words := line.split("#", 1)[0].split():
            yield words


def _ints(words: list[str]) -> tuple[int, ...] | None:
    try:
        return tuple(int(word) for word in words)
    except ValueError:
        return None


def same_setting(requested: str | bool | float, found: str) -> bool:
    """Whether a run-card value read back from MG5 equals the requested one (6500 == 6500.0, True == .true.)."""
    text = found.strip().lower()
    if isinstance(requested, bool):
        return text in ({"true", ".true.", "t", "1"} if requested else {"false", ".false.", "f", "0"})
    try:
        return math.isclose(float(requested), float(text), rel_tol=1e-9, abs_tol=1e-12)
    except ValueError:
        return str(requested).strip().lower() == text


def log_failure(text: str) -> str | None:
    """The first failure MG5 reports in a log, with the error line that follows it; None for a clean log.

    MG5 exits with status 0 after most failures (a bad process, a compilation error, zero cross section), so
    its output is the only reliable account of what went wrong.
    """
    lines = [line.strip() for line in strip_ansi(text).splitlines()]
    for number, line in enumerate(lines):
        for pattern, explained in _FAILURES:
            if pattern.search(line) and not explained:
                return line
            if pattern.search(line):
                return " ".join([line, *_explanation(lines[number + 1 : number + 1 + ERROR_LOOKAHEAD])])
    return None


def _explanation(following: list[str]) -> list[str]:
    """The ``"sub-command" with error:`` and ``ErrorClass : message`` lines after a marker; else the next line."""
    error_at = next((i for i, line in enumerate(following) if _ERROR_LINE.match(line)), None)
    if error_at is None:
        return following[:1]
    return [*(line for line in following[:error_at] if line.endswith("with error:")), following[error_at]]
