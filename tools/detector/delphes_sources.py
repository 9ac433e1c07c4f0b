"""Delphes cards that ``source`` other cards: the files are inlined, so one self-contained card travels and runs.

Tcl's ``source FILE`` runs FILE in place; Delphes' own cards use it with paths relative to the top card's directory
(``source CLIC/CLICdet_BTag_50.tcl`` in cards/). A card is therefore read with each such line replaced by the
file's text, recursively. What cannot be followed the same way everywhere is refused, naming the card and line: a
path outside the top card's directory, a missing file, a path built with Tcl substitutions, a card sourcing itself.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["CardSourceError", "inline_sources"]

SOURCE_LINE = re.compile(r"^\s*source\s+(?P<argument>.*?)\s*$")
"""A ``source`` command on a line of its own (the only way Delphes' cards use it)."""
MAX_BYTES = 4_000_000
"""A card with everything it sources: the largest shipped one, MuonColliderDet, inlines to 0.8 MB."""


class CardSourceError(ValueError):
    """A ``source`` line that cannot be inlined; the message names the card, the line and what to do."""


def inline_sources(card: Path) -> str:
    """The text of ``card`` with every ``source`` line replaced by the sourced file's text, recursively."""
    base = card.resolve().parent
    text = _inline(card.resolve(), base, [])
    if len(text.encode()) > MAX_BYTES:
        msg = f"Delphes card {card} with the files it sources holds over {MAX_BYTES // 1_000_000} MB: not a card"
        raise CardSourceError(msg)
    return text


def _inline(card: Path, base: Path, stack: list[Path]) -> str:
    lines = []
    for number, line in enumerate(card.read_text(errors="replace").splitlines(), start=1):
        match = SOURCE_LINE.match(line)
        if match is None:
            lines.append(line)
            continue
        where = f"line {number} of Delphes card {card} ({line.strip()!r})"
        sourced = _sourced_path(match["argument"], base, where)
        if sourced in [card, *stack]:
            msg = f"{where} sources a card that is already being read (a cycle); remove that line"
            raise CardSourceError(msg)
        lines += [f"# {line.strip()}    (inlined by madagents)", _inline(sourced, base, [*stack, card])]
    return "\n".join(lines)


def _sourced_path(argument: str, base: Path, where: str) -> Path:
    name = argument[1:-1] if argument[:1] + argument[-1:] in ('""', "{}") else argument
    if not name or re.search(r"[\s$\[\]\\;]", name):
        msg = f"{where}: madagents follows `source FILE` with a plain file name only; write the file's path"
        raise CardSourceError(msg)
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        msg = f"{where}: {name} is outside the card's directory {base}; copy the file beside the card"
        raise CardSourceError(msg)
    if not path.is_file():
        msg = f"{where}: {name} does not exist in the card's directory {base}"
        raise CardSourceError(msg)
    return path
