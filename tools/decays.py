"""Decay tables as a reviewer checks them: Pythia8's particle data, or the DECAY blocks of an SLHA param card."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["DecayChannel", "DecayTable", "slha_decay_tables"]


class DecayChannel(BaseModel):
    products: list[int]
    branching_ratio: float
    on: bool


class DecayTable(BaseModel):
    pdg_id: int
    channels: list[DecayChannel]


def slha_decay_tables(text: str) -> list[DecayTable]:
    """The DECAY blocks of an SLHA card that list channels (``BR NDA ID1 ID2 ...`` lines); a bare width is skipped.

    MG5 writes channels when it computes a width (``DECAY <pdg> auto``); a width set by hand comes without them.
    """
    tables: list[DecayTable] = []
    current: DecayTable | None = None
    for line in text.splitlines():
        head, *rest = line.split("#", 1)[0].split() or [""]
        if head.lower() == "decay" and rest:
            current = DecayTable(pdg_id=int(rest[0]), channels=[])
            tables.append(current)
        elif head.lower() in {"decay", "block"}:
            current = None
        elif current is not None and rest:  # BR NDA ID1 ... IDn
            products = [int(word) for word in rest[1 : 1 + int(rest[0])]]
            current.channels.append(DecayChannel(products=products, branching_ratio=float(head), on=True))
    return [table for table in tables if table.channels]
