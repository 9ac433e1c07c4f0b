"""Generate events with Pythia8: hard process, parton shower, hadronisation; or shower the events of an LHE file.

Writes a ROOT TTree of final-state objects (muons, electrons, photons, optionally anti-kT jets, missing pT) for
the analysis and, when ``hepmc_path`` is set (Delphes reads it, or the user asked), the events as HepMC3 too
(beams plus final state); child processes write both while Pythia8 generates the next events (the ROOT file of
a small sample is written by the generator itself).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from madagents_tools.contract import (
    FileRecord,
    OutputFile,
    RunPath,
    ToolRequest,
    ToolResult,
    atomic_path,
    exit_without_teardown,
    inside_run_dir,
    package_versions,
    record_file,
    report_progress,
    tool_main,
)
from madagents_tools.generation.decays import DecayChannel, DecayTable
from madagents_tools.generation.mg5_output import CrossSection as LheCrossSection
from madagents_tools.generation.mg5_output import count_lhe_events, init_cross_section, read_lhe_head
from madagents_tools.io.batch_pipe import BatchPipeError
from madagents_tools.io.final_state import ROOT_BASKET_EVENTS, JetDefinition, flatten_batch
from madagents_tools.io.final_state_writer import FinalStateWriter
from madagents_tools.io.hepmc_writer import CrossSection, HepmcWriter

__all__ = ["DecayChannel", "DecayTable", "GeneratedProcess", "JetDefinition", "Request", "Result", "main", "run"]

MAX_PYTHIA_SEED = 900_000_000
"""Pythia8 accepts ``Random:seed`` in [0, 900000000]; 0 means 'seed from the clock', which we never want."""


class Request(ToolRequest):
    """What to generate and where to write it."""

    tool: Literal["pythia8_generate"] = "pythia8_generate"
    settings: list[str] = Field(
        description="Pythia8 settings lines (beams, process, decays, PDF, tune), applied in order.",
        examples=[["Beams:eCM = 13000", "WeakSingleBoson:ffbar2gmZ = on"]],
    )
    n_events: int = Field(gt=0, description="Number of accepted events to generate.")
    seed: int = Field(ge=1, le=MAX_PYTHIA_SEED, description="Pythia8 Random:seed.")
    hepmc_path: OutputFile | None = Field(
        default="events/events.hepmc3",
        description="HepMC3 ASCII output; null writes none when the ROOT file is all a later step reads (no "
        "Delphes): no writer process then, and no file of ~50 kB per event.",
    )
    root_path: OutputFile = Field(default="events/events.root", description="ROOT file with the TTree 'events'.")
    lepton_pt_min_gev: float = Field(default=5.0, ge=0.0, description="Leptons below this pT are not stored.")
    jets: JetDefinition | None = Field(default=None, description="Cluster jets; None stores no jet branches.")
    resonances: list[int] = Field(
        default_factory=list, description="PDG ids whose decay tables are reported in the result."
    )
    batch_size: int = Field(default=100, gt=0, description="Events per batch; progress is reported per batch.")
    spare_core: bool = Field(
        default=True,
        description="A core is idle beside this generation: the ROOT file of a large sample is written there, by a "
        "child process. False for chunks that run side by side: they take every core, so each writes its own file "
        "(half the CPU time: no copy to a child, no second interpreter). The events written are the same either way.",
    )
    lhe_path: RunPath | None = Field(
        default=None,
        description="Les Houches events to shower and hadronise (plain or .gz, e.g. from mg5_generate). The tool "
        "sets Beams:frameType = 4 and Beams:LHEF itself; settings add the rest (matching, merging, tune).",
        examples=["events/unweighted_events.lhe"],
    )

    @field_validator("settings")
    @classmethod
    def _files_stay_in_run_dir(cls, lines: list[str]) -> list[str]:
        # some settings read files (Beams:LHEF, PDF:pSet = LHAGrid1:...): they may name run-directory files only
        for line in lines:
            value = line.partition("=")[2].strip()
            for word in value.replace(":", " ").split():
                if "/" in word or word.startswith("~"):
                    inside_run_dir(word)
        return lines

    @model_validator(mode="after")
    def _one_lhe_source(self) -> Request:
        if self.lhe_path is not None:
            own = [line for line in self.settings if line.split("=")[0].strip().lower() in LHE_SETTINGS]
            if own:
                msg = f"with lhe_path set, the tool sets the beams itself: drop {own} from settings"
                raise ValueError(msg)
        return self


class GeneratedProcess(BaseModel):
    """One hard process Pythia8 generated, as its own statistics name it (``Info::codesHard``)."""

    code: int
    name: str = Field(description="Pythia8's process name, e.g. 'f fbar -> gamma*/Z0'.")
    sigma_pb: float
    n_accepted: int


class Result(ToolResult):
    n_events: int = 0
    n_tried: int = 0
    sigma_pb: float | None = Field(default=None, description="Pythia8 sigmaGen() in pb.")
    sigma_err_pb: float | None = Field(
        default=None,
        description="Statistical error of sigmaGen() in pb; for an LHE input the generator's error from <init> "
        "(Pythia's own is the spread of the event weights, zero for unweighted events).",
    )
    decay_tables: list[DecayTable] = Field(default_factory=list)
    processes: list[GeneratedProcess] = Field(
        default_factory=list, description="What was generated: Pythia8's process codes, names and σ per process."
    )
    generation_seconds: float = 0.0


MB_TO_PB = 1e9
LHE_SETTINGS = ("beams:frametype", "beams:lhef")
"""Settings the tool owns when it reads an LHE file."""
SIGMA_AGREEMENT = 1e-6
"""For unweighted LHE events Pythia's sigmaGen() is their mean weight, i.e. the <init> σ (measured: equal to 1e-15)."""
TRIES_PER_EVENT = 10.0
"""nextBatch retries failed events itself until the batch is full, giving up after this factor × the batch size."""


class _PythiaError(Exception):
    """Pythia refused the request or could not generate the events; ``run`` reports it as ``Result(ok=False)``."""


def run(request: Request) -> Result:
    packages = ("pythia8mc", "pyhepmc", "uproot", "awkward", "numpy", *(("fastjet",) if request.jets else ()))
    versions = package_versions(*packages)
    try:
        return _run(request, versions)
    except (_PythiaError, BatchPipeError) as exc:
        return Result(ok=False, error=str(exc), versions=versions, seed=request.seed)


def _run(request: Request, versions: dict[str, str]) -> Result:
    import pythia8mc as pythia8  # noqa: PLC0415 - heavy imports stay out of the request/result models

    lhe = _lhe_input(request)
    pythia = pythia8.Pythia("", False)  # no banner; init() still prints its summary into the tool log
    _configure(pythia, request)
    decay_tables = [_decay_table(pythia, pdg_id) for pdg_id in request.resonances]
    start = time.perf_counter()
    hepmc_file = atomic_path(request.hepmc_path) if request.hepmc_path else contextlib.nullcontext(None)
    with hepmc_file as hepmc_tmp, atomic_path(request.root_path) as root_tmp:
        hepmc_sha256 = _generate(pythia, request, hepmc_tmp, root_tmp, lhe)
    seconds = time.perf_counter() - start
    pythia.stat()
    info = pythia.infoPython()
    sigma, sigma_err = _cross_section(info, lhe)[:2]
    warnings = []
    if lhe is not None and not math.isclose(sigma, lhe.value_pb, rel_tol=SIGMA_AGREEMENT):
        warnings.append(f"Pythia's σ {sigma:.6g} pb differs from the LHE <init> σ {lhe.value_pb:.6g} pb")
    return Result(
        ok=True,
        n_events=request.n_events,
        n_tried=info.nTried(),
        sigma_pb=sigma,
        sigma_err_pb=sigma_err,
        warnings=warnings,
        decay_tables=decay_tables,
        processes=_generated_processes(info),
        generation_seconds=seconds,
        seed=request.seed,
        versions=versions,
        files=[
            # hashed by the writer process as it wrote, rather than read back here after the last event
            *(
                [FileRecord(path=request.hepmc_path, sha256=hepmc_sha256, kind="hepmc3", n_events=request.n_events)]
                if request.hepmc_path and hepmc_sha256
                else []
            ),
            record_file(request.root_path, "root", request.n_events),
        ],
    )


def _generated_processes(info: Any) -> list[GeneratedProcess]:
    return [
        GeneratedProcess(
            code=code,
            name=str(info.nameProc(code)),
            sigma_pb=info.sigmaGen(code) * MB_TO_PB,
            n_accepted=info.nAccepted(code),
        )
        for code in info.codesHard()
    ]


def _lhe_input(request: Request) -> LheCrossSection | None:
    """The <init> cross section of the LHE input, once it is known to hold the requested number of events."""
    if request.lhe_path is None:
        return None
    path = Path(request.lhe_path)
    if not path.is_file():
        msg = f"LHE file {path} not found in the run directory"
        raise _PythiaError(msg)
    try:
        sigma = init_cross_section(read_lhe_head(path))
        available = count_lhe_events(path)
    except (ValueError, OSError, EOFError) as exc:
        msg = f"cannot read the LHE file {path}: {exc}"
        raise _PythiaError(msg) from None
    if available < request.n_events:
        msg = f"the LHE file {path} holds {available} events but {request.n_events} were requested"
        raise _PythiaError(msg)
    return sigma


def _configure(pythia: Any, request: Request) -> None:
    lhe = [] if request.lhe_path is None else ["Beams:frameType = 4", f"Beams:LHEF = {request.lhe_path}"]
    for line in [*lhe, *request.settings]:
        if not pythia.readString(line):
            msg = f"Pythia8 rejected setting '{line}'; check the spelling against the Pythia8 settings index"
            raise _PythiaError(msg)
    # after the user's lines, so that the request's seed wins and the log lists no events
    own = ["Random:setSeed = on", f"Random:seed = {request.seed}"]
    own += [
        f"Next:{name} = 0"
        for name in ("numberShowEvent", "numberShowInfo", "numberShowProcess", "numberShowLHA", "numberCount")
    ]
    for line in own:
        pythia.readString(line)
    if not pythia.init():
        msg = "Pythia8 init() failed; the 'PYTHIA Abort' and 'PYTHIA Error' lines of the tool log say why"
        raise _PythiaError(msg)


def _decay_table(pythia: Any, pdg_id: int) -> DecayTable:
    data = pythia.particleData
    if not data.isParticle(pdg_id):
        msg = f"resonance {pdg_id} is not in Pythia8's particle data; check the PDG id"
        raise _PythiaError(msg)
    entry = data.particleDataEntryPtr(pdg_id)
    # Pythia stores the particle's channels: an antiparticle decays to their charge conjugates, and
    # onMode 2 (3) switches a channel on for the particle (antiparticle) only
    anti = pdg_id < 0
    channels = []
    for i in range(entry.sizeChannels()):
        channel = entry.channel(i)
        products = [channel.product(k) for k in range(channel.multiplicity())]
        if anti:
            products = [-product if data.hasAnti(product) else product for product in products]
        on = channel.onMode() in (1, 3 if anti else 2)
        channels.append(DecayChannel(products=products, branching_ratio=channel.bRatio(), on=on))
    return DecayTable(pdg_id=pdg_id, channels=channels)


def _generate(
    pythia: Any, request: Request, hepmc_tmp: Path | None, root_tmp: Path, lhe: LheCrossSection | None
) -> str | None:
    """Write the ROOT file and, unless ``hepmc_tmp`` is None, the HepMC3 file; return the latter's SHA-256.

    Both are written by child processes on the other core (the ROOT file of a small sample here, see
    final_state_writer); the generator only flattens each batch and hands it over.
    LHE event weights are in pb; they are divided by the <init> unit weight (XMAXUP), so that unweighted events
    weigh 1 as those of Pythia's own processes do (and MG5's NLO events ±1).
    """
    seconds = dict.fromkeys(("Pythia", "hand-over"), 0.0)
    objects = FinalStateWriter(
        root_tmp,
        request.lepton_pt_min_gev,
        request.jets,
        ROOT_BASKET_EVENTS,
        request.n_events,
        spare_core=request.spare_core,
    )
    writer = HepmcWriter(hepmc_tmp) if hepmc_tmp else contextlib.nullcontext(None)
    with objects, writer as hepmc:
        done = 0
        while done < request.n_events:
            size = min(request.batch_size, request.n_events - done)
            marks = [time.perf_counter()]
            events = _next_batch(pythia, size, request.n_events)
            marks.append(time.perf_counter())
            batch = flatten_batch(events)
            if lhe is not None and lhe.unit_weight_pb > 0:
                batch = dataclasses.replace(batch, weight=batch.weight / lhe.unit_weight_pb)
            objects.write(batch, done)
            if hepmc is not None:
                hepmc.write(batch, done, _cross_section(pythia.infoPython(), lhe))
            marks.append(time.perf_counter())
            done += size
            for name, (begin, end) in zip(seconds, itertools.pairwise(marks), strict=True):
                seconds[name] += end - begin
            report_progress(done, request.n_events)
        objects.finish()
        sha256 = hepmc.finish() if hepmc is not None else None
    split = ", ".join(f"{name} {value:.2f} s" for name, value in seconds.items())
    written = "; ".join([objects.summary(), *([hepmc.summary()] if hepmc is not None else [])])
    print(f"pythia8_generate: {request.n_events} events: {split}; {written}", flush=True)
    return sha256


def _cross_section(info: Any, lhe: LheCrossSection | None) -> CrossSection:
    """The running estimate after the batch, which every event of the batch carries in the HepMC3 file.

    For an LHE input the error is the generator's, from <init>: Pythia's is the spread of the event weights.
    """
    error = info.sigmaErr() * MB_TO_PB if lhe is None else lhe.error_pb
    return info.sigmaGen() * MB_TO_PB, error, info.nAccepted(), info.nTried()


def _next_batch(pythia: Any, size: int, wanted: int) -> Any:
    try:
        return pythia.nextBatch(size, TRIES_PER_EVENT)
    except RuntimeError as exc:  # raised only when the retries ran out
        info = pythia.infoPython()
        if info.atEndOfFile():
            msg = (
                f"Pythia8 failed to generate {size} events: the LHE file ended after {info.nAccepted()} "
                f"accepted events, {wanted} requested"
            )
            raise _PythiaError(msg) from None
        msg = (
            f"Pythia8 failed to generate {size} events in {TRIES_PER_EVENT * size:.0f} tries ({exc}); "
            "the 'PYTHIA Error' lines of the tool log say why"
        )
        raise _PythiaError(msg) from None


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
