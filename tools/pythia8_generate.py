"""Generate events with Pythia8: hard process, parton shower, hadronisation.

Writes the events twice: as HepMC3 (beams plus final state, for other tools and detector simulation) and as a
ROOT TTree of final-state objects (muons, electrons, optionally anti-kT jets, missing pT) for the analysis.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, Field

from tools.contract import (
    StrictModel,
    ToolRequest,
    ToolResult,
    atomic_path,
    package_versions,
    record_file,
    report_progress,
    tool_main,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]
    Ints: TypeAlias = npt.NDArray[np.signedinteger[Any]]
    Flags: TypeAlias = npt.NDArray[np.bool_]

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


MB_TO_PB = 1e9
NEUTRINOS = (12, 14, 16)
LEPTON_FLAVOURS = {"muon": 13, "electron": 11}
ISOLATION_CONE = 0.3
ISOLATED_BELOW = 0.15
"""Muons and electrons with iso below this are kept out of the jets."""
B_HADRON_PT_MIN_GEV = 5.0
BOTTOM = 5
TRIES_PER_EVENT = 10.0
"""nextBatch retries failed events itself until the batch is full, giving up after this factor × the batch size."""
BEAM_ENTRIES = (1, 2)
"""The beams' positions in Pythia's event record; entry 0 stands for the event as a whole."""
HEPMC_BEAM, HEPMC_FINAL = 4, 1
KINEMATICS = "pt: float64, eta: float64, phi: float64, mass: float64"
BRANCHES = {
    "event_number": "int64",
    "weight": "float64",
    "mhat": "float64",
    "muon": f"var * {{{KINEMATICS}, charge: int32, iso: float64}}",
    "electron": f"var * {{{KINEMATICS}, charge: int32, iso: float64}}",
    "jet": f"var * {{{KINEMATICS}, btag: int32}}",
    "met_pt": "float64",
    "met_phi": "float64",
}


class _PythiaError(Exception):
    """Pythia refused the request or could not generate the events; ``run`` reports it as ``Result(ok=False)``."""


@dataclass(frozen=True)
class _Batch:
    """Every particle of a batch of events as flat numpy columns, so each step is a few vectorised operations."""

    counts: Ints  # particles per event
    event: Ints  # event (position in the batch) of each particle
    index: Ints  # position in its event's record
    pid: Ints
    status: Ints
    px: Floats
    py: Floats
    pz: Floats
    e: Floats
    m: Floats
    weight: Floats  # per event
    mhat: Floats  # per event


def run(request: Request) -> Result:
    packages = ("pythia8mc", "pyhepmc", "uproot", "awkward", "numpy", *(("fastjet",) if request.jets else ()))
    versions = package_versions(*packages)
    try:
        return _run(request, versions)
    except _PythiaError as exc:
        return Result(ok=False, error=str(exc), versions=versions, seed=request.seed)


def _run(request: Request, versions: dict[str, str]) -> Result:
    import pythia8mc as pythia8  # noqa: PLC0415 - heavy imports stay out of the request/result models

    pythia = pythia8.Pythia("", False)  # no banner; init() still prints its summary into the tool log
    _configure(pythia, request)
    decay_tables = [_decay_table(pythia, pdg_id) for pdg_id in request.resonances]
    start = time.perf_counter()
    with atomic_path(request.hepmc_path) as hepmc_tmp, atomic_path(request.root_path) as root_tmp:
        _generate(pythia, request, hepmc_tmp, root_tmp)
    seconds = time.perf_counter() - start
    pythia.stat()
    info = pythia.infoPython()
    return Result(
        ok=True,
        n_events=request.n_events,
        n_tried=info.nTried(),
        sigma_pb=info.sigmaGen() * MB_TO_PB,
        sigma_err_pb=info.sigmaErr() * MB_TO_PB,
        decay_tables=decay_tables,
        generation_seconds=seconds,
        seed=request.seed,
        versions=versions,
        files=[
            record_file(request.hepmc_path, "hepmc3", request.n_events),
            record_file(request.root_path, "root", request.n_events),
        ],
    )


def _configure(pythia: Any, request: Request) -> None:
    for line in request.settings:
        if not pythia.readString(line):
            msg = f"Pythia8 rejected setting '{line}'; check the spelling against the Pythia8 settings index"
            raise _PythiaError(msg)
    # after the user's lines, so that the request's seed wins and the log lists no events
    own = ["Random:setSeed = on", f"Random:seed = {request.seed}"]
    own += [f"Next:{name} = 0" for name in ("numberShowEvent", "numberShowInfo", "numberShowProcess", "numberCount")]
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


def _generate(pythia: Any, request: Request, hepmc_tmp: Path, root_tmp: Path) -> None:
    import pyhepmc  # noqa: PLC0415
    import uproot  # noqa: PLC0415

    branches = {name: kind for name, kind in BRANCHES.items() if name != "jet" or request.jets}
    seconds = dict.fromkeys(("Pythia", "HepMC", "objects + ROOT"), 0.0)
    writer = pyhepmc.io.WriterAscii(str(hepmc_tmp))
    try:
        with uproot.recreate(root_tmp) as root_file:
            tree = root_file.mktree("events", branches)
            done = 0
            while done < request.n_events:
                size = min(request.batch_size, request.n_events - done)
                marks = [time.perf_counter()]
                events = _next_batch(pythia, size)
                marks.append(time.perf_counter())
                batch = _flatten(events)
                _write_hepmc(writer, batch, done, pythia.infoPython())
                marks.append(time.perf_counter())
                tree.extend(_objects(batch, request, done))
                marks.append(time.perf_counter())
                for name, (begin, end) in zip(seconds, itertools.pairwise(marks), strict=True):
                    seconds[name] += end - begin
                done += size
                report_progress(done, request.n_events)
    finally:
        writer.close()
    split = ", ".join(f"{name} {value:.2f} s" for name, value in seconds.items())
    print(f"pythia8_generate: {request.n_events} events: {split}", flush=True)


def _next_batch(pythia: Any, size: int) -> Any:
    try:
        return pythia.nextBatch(size, TRIES_PER_EVENT)
    except RuntimeError as exc:  # raised only when the retries ran out
        msg = (
            f"Pythia8 failed to generate {size} events in {TRIES_PER_EVENT * size:.0f} tries ({exc}); "
            "the 'PYTHIA Error' lines of the tool log say why"
        )
        raise _PythiaError(msg) from None


def _flatten(events: Any) -> _Batch:
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    counts = np.asarray(ak.num(events.prt, axis=1), dtype=np.int64)
    event = np.repeat(np.arange(len(counts)), counts)
    particles = ak.flatten(events.prt, axis=1)
    return _Batch(
        counts=counts,
        event=event,
        index=np.arange(len(event)) - (np.cumsum(counts) - counts)[event],
        pid=np.asarray(particles.id),
        status=np.asarray(particles.status),
        **{name: np.asarray(particles.p[name]) for name in ("px", "py", "pz", "e")},
        m=np.asarray(particles.m),
        weight=np.asarray(ak.fill_none(ak.firsts(events.info.weights), 1.0), dtype=np.float64),
        mhat=np.asarray(events.info.mHat, dtype=np.float64),
    )


def _write_hepmc(writer: Any, batch: _Batch, first: int, info: Any) -> None:
    """Beams → one vertex → final state: the full history is ~190 kB per event and no consumer needs it."""
    import numpy as np  # noqa: PLC0415
    import pyhepmc  # noqa: PLC0415

    beam = np.isin(batch.index, BEAM_ENTRIES)
    keep = beam | (batch.status > 0)
    ends = np.cumsum(np.bincount(batch.event[keep], minlength=len(batch.counts))).tolist()
    columns = [column[keep] for column in (batch.px, batch.py, batch.pz, batch.e, batch.m, batch.pid)]
    status = np.where(beam[keep], HEPMC_BEAM, HEPMC_FINAL).astype(np.int32)
    # zero-based parents: none for the beams, the two beams (the first two of each event) for the rest
    parents = np.where(beam[keep][:, np.newaxis], -1, np.array([0, 1])).astype(np.int32)
    cross_section = pyhepmc.GenCrossSection()  # the running estimate; the result carries the final σ
    sigma, sigma_err = info.sigmaGen() * MB_TO_PB, info.sigmaErr() * MB_TO_PB
    cross_section.set_cross_section(sigma, sigma_err, info.nAccepted(), info.nTried())
    event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)  # from_hepevt clears all but the units
    for i, (begin, end) in enumerate(zip([0, *ends], ends, strict=False)):
        cut = slice(begin, end)
        event.from_hepevt(first + i, *(column[cut] for column in columns), status[cut], parents[cut], fortran=False)
        event.weights = [batch.weight[i]]
        event.cross_section = cross_section
        writer.write_event(event)
    if writer.failed():
        msg = "writing the HepMC3 file failed (disk full?)"
        raise OSError(msg)


def _objects(batch: _Batch, request: Request, first: int) -> dict[str, Any]:
    """The TTree columns of one batch: leptons, jets and missing pT from the final state."""
    import numpy as np  # noqa: PLC0415

    n_events = len(batch.counts)
    final = batch.status > 0
    neutrino = final & np.isin(np.abs(batch.pid), NEUTRINOS)
    met_x, met_y = (np.bincount(batch.event[neutrino], p[neutrino], minlength=n_events) for p in (batch.px, batch.py))
    visible = np.flatnonzero(final & ~neutrino)
    event, pid = batch.event[visible], batch.pid[visible]
    pt, eta, phi = _kinematics(batch.px[visible], batch.py[visible], batch.pz[visible])
    columns = {"event_number": np.arange(first, first + n_events), "weight": batch.weight, "mhat": batch.mhat}
    jet_input = np.ones(len(visible), dtype=np.bool_)
    for name, flavour in LEPTON_FLAVOURS.items():
        chosen = np.flatnonzero((np.abs(pid) == flavour) & (pt > request.lepton_pt_min_gev))
        # scalar pT sum of the other visible particles in the cone, relative to the lepton's pT
        owner, other = _same_event_pairs(event[chosen], event, n_events)
        lepton = chosen[owner]
        near = (_delta_r(eta[lepton], phi[lepton], eta[other], phi[other]) < ISOLATION_CONE) & (other != lepton)
        iso = np.bincount(owner[near], pt[other[near]], minlength=len(chosen)) / pt[chosen]
        fields: dict[str, Any] = {"eta": eta[chosen], "phi": phi[chosen], "mass": batch.m[visible[chosen]]}
        fields |= {"charge": -np.sign(pid[chosen]).astype(np.int32), "iso": iso}
        columns[name] = _lists(pt[chosen], fields, event[chosen], n_events)
        jet_input[chosen[iso < ISOLATED_BELOW]] = False
    if request.jets is not None:
        columns["jet"] = _jets(batch, visible[jet_input], request.jets)
    return columns | {"met_pt": np.hypot(met_x, met_y), "met_phi": np.arctan2(met_y, met_x)}


def _kinematics(px: Floats, py: Floats, pz: Floats) -> tuple[Floats, Floats, Floats]:
    import numpy as np  # noqa: PLC0415

    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(pz / pt)  # ±inf along the beam: outside every cone
    return pt, eta, np.arctan2(py, px)


def _same_event_pairs(event_a: Ints, event_b: Ints, n_events: int) -> tuple[Ints, Ints]:
    """Indices (i, j) of every pair a[i], b[j] from the same event; ``event_b`` must be sorted."""
    import numpy as np  # noqa: PLC0415

    counts_b = np.bincount(event_b, minlength=n_events)
    starts_b = np.cumsum(counts_b) - counts_b
    per_a = counts_b[event_a]
    owner = np.repeat(np.arange(len(event_a)), per_a)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(per_a) - per_a, per_a)
    return owner, np.repeat(starts_b[event_a], per_a) + within


def _delta_r(eta_a: Floats, phi_a: Floats, eta_b: Floats, phi_b: Floats) -> Floats:
    import numpy as np  # noqa: PLC0415

    delta_phi = (phi_a - phi_b + np.pi) % (2 * np.pi) - np.pi
    distance: Floats = np.hypot(eta_a - eta_b, delta_phi)
    return distance


def _lists(pt: Floats, fields: dict[str, Any], event: Ints, n_events: int) -> Any:
    """One list of records per event, hardest first: the layout uproot writes as ``n<name>`` + ``<name>_<field>``."""
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    order = np.lexsort((-pt, event))  # stable: equal pT keeps Pythia's order, so output stays deterministic
    columns = {"pt": pt[order], **{name: values[order] for name, values in fields.items()}}
    return ak.unflatten(ak.zip(columns), np.bincount(event, minlength=n_events))


def _jets(batch: _Batch, inputs: Ints, definition: JetDefinition) -> Any:
    """Anti-kT jets of the ``inputs`` particles, b-tagged by a B hadron (pT > 5 GeV) within ΔR < R."""
    import awkward as ak  # noqa: PLC0415
    import fastjet  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    n_events = len(batch.counts)
    four = {"px": batch.px[inputs], "py": batch.py[inputs], "pz": batch.pz[inputs], "E": batch.e[inputs]}
    particles = ak.unflatten(ak.zip(four), np.bincount(batch.event[inputs], minlength=n_events))
    sequence = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.antikt_algorithm, definition.radius))
    found = sequence.inclusive_jets(definition.pt_min_gev)
    px, py, pz, e = (np.asarray(ak.flatten(found[name], axis=1)) for name in four)
    event = np.repeat(np.arange(n_events), np.asarray(ak.num(found, axis=1)))
    pt, eta, phi = _kinematics(px, py, pz)
    code = np.abs(batch.pid)
    # b hadrons decay, so they come from the whole record; a zero tens digit marks quarks and diquarks (5, 5503)
    b_flavour = ((code // 100) % 10 == BOTTOM) | ((code // 1000) % 10 == BOTTOM)
    hadrons = np.flatnonzero(b_flavour & ((code // 10) % 10 != 0))
    hadron_pt, hadron_eta, hadron_phi = _kinematics(batch.px[hadrons], batch.py[hadrons], batch.pz[hadrons])
    owner, other = _same_event_pairs(event, batch.event[hadrons], n_events)
    near = _delta_r(eta[owner], phi[owner], hadron_eta[other], hadron_phi[other]) < definition.radius
    near &= hadron_pt[other] > B_HADRON_PT_MIN_GEV
    btag = (np.bincount(owner[near], minlength=len(pt)) > 0).astype(np.int32)
    mass = np.sqrt(np.maximum(e**2 - pt**2 - pz**2, 0.0))
    return _lists(pt, {"eta": eta, "phi": phi, "mass": mass, "btag": btag}, event, n_events)


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    raise SystemExit(main())
