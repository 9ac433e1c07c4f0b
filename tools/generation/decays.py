"""Decay tables as a reviewer checks them, from Pythia8's particle data or from an SLHA param card (mg5_output)."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["DecayChannel", "DecayTable"]


class DecayChannel(BaseModel):
    products: list[int]
    branching_ratio: float
    on: bool


class DecayTable(BaseModel):
    pdg_id: int
    channels: list[DecayChannel]
