"""Generate events with Pythia8: hard process, parton shower, hadronisation.

Writes the events twice: as HepMC3 (beams plus final state, for other tools and detector simulation) and as a
ROOT TTree of final-state objects (muons, electrons, optionally anti-kT jets, missing pT) for the analysis.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.contract import StrictModel, ToolRequest, ToolResult, tool_main

__all__ = ["DecayChannel", "DecayTable", "JetDefinition", "Request", "Result", "main", "run"]

MAX_PYTHIA_SEED = 900_000_000
"""Pythia8 accepts ``Random:seed`` in [0, 900000000]; 0 means 'seed from the clock', which we never want."""


class JetDefinition(StrictModel):
    """Anti-kT jets clustered with fastjet from visible final-state particles."""

    algorithm: Literal["antikt"] = "antikt"
    radius: float = Field(default=0.4, gt=0.0, le=2.0, description="Jet radius R.")
    pt_min_gev: float = Field(default=20.0, ge=0.0, description="Jets below this pT are not stored.")


class Request(ToolRequest):
    """What to generate and where to write it."""

    tool: Literal["pythia8_generate"] = "pythia8_generate"
    settings: list[str] = Field(
        description="Pythia8 settings lines (beams, process, decays, PDF, tune), applied in order.",
        examples=[["Beams:eCM = 13000", "WeakSingleBoson:ffbar2gmZ = on"]],
    )
    n_events: int = Field(gt=0, description="Number of accepted events to generate.")
    seed: int = Field(ge=1, le=MAX_PYTHIA_SEED, description="Pythia8 Random:seed.")
    hepmc_path: str = Field(default="events/events.hepmc3", description="HepMC3 ASCII output.")
    root_path: str = Field(default="events/events.root", description="ROOT file with the TTree 'events'.")
    lepton_pt_min_gev: float = Field(default=5.0, ge=0.0, description="Leptons below this pT are not stored.")
    jets: JetDefinition | None = Field(default=None, description="Cluster jets; None stores no jet branches.")
    resonances: list[int] = Field(
        default_factory=list, description="PDG ids whose decay tables are reported in the result."
    )
    batch_size: int = Field(default=100, gt=0, description="Events per batch; progress is reported per batch.")


class DecayChannel(BaseModel):
    products: list[int]
    branching_ratio: float
    on: bool


class DecayTable(BaseModel):
    pdg_id: int
    channels: list[DecayChannel]


class Result(ToolResult):
    n_events: int = 0
    n_tried: int = 0
    sigma_pb: float | None = Field(default=None, description="Pythia8 sigmaGen() in pb.")
    sigma_err_pb: float | None = Field(default=None, description="Statistical error of sigmaGen() in pb.")
    decay_tables: list[DecayTable] = Field(default_factory=list)
    generation_seconds: float = 0.0


def run(request: Request) -> Result:
    raise NotImplementedError


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    raise SystemExit(main())
