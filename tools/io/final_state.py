"""Final-state objects from generated particles: the TTree the analysis reads.

Muons, electrons and photons with their relative isolation, hadronic taus (the visible decay products of each
τ that decays to hadrons), jets (fastjet: anti-kT, kT or Cambridge/Aachen) with b- and c-tags from the B and C
hadrons of the event record (within ΔR < R of the jet axis, or by ghost association), and missing transverse
momentum, computed for a whole batch of events at once with numpy index arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import Field

from madagents_tools.contract import StrictModel

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]
    Ints: TypeAlias = npt.NDArray[np.signedinteger[Any]]

__all__ = [
    "BRANCHES",
    "PARTICLE_FIELDS",
    "ROOT_BASKET_EVENTS",
    "JetDefinition",
    "ParticleBatch",
    "final_state_columns",
    "flatten_batch",
    "pair_mass",
    "particle_batch",
]

NEUTRINOS = (12, 14, 16)
LEPTON_FLAVOURS = {"muon": 13, "electron": 11}
ISOLATION_CONE = 0.3
ISOLATED_BELOW = 0.15
"""Muons and electrons with iso below this are kept out of the jets."""
HADRON_PT_MIN_GEV = 5.0
"""B and C hadrons below this pT tag no jet (the usual particle-level definition, e.g. ATLAS arXiv:1907.05120)."""
BOTTOM, CHARM = 5, 4
PHOTON = 22
TAU = 15
CHARGED_LEPTONS = (11, 13)
TAU_PT_MIN_GEV = 10.0
"""Hadronic taus below this visible pT are not stored."""
PHOTON_PT_MIN_GEV = 10.0
"""Photons below this pT are not stored (those of π⁰ decays inside jets are many and soft)."""
GHOST_SCALE = 1e-18
"""Ghosts are the hadrons' momenta times this: they join a jet without changing it (Cacciari, Salam, Soyez,
arXiv:0802.1188)."""
FOUR = ("px", "py", "pz", "e")
ALGORITHMS = {"antikt": "antikt_algorithm", "kt": "kt_algorithm", "cambridge": "cambridge_algorithm"}
KINEMATICS = "pt: float64, eta: float64, phi: float64, mass: float64"
BRANCHES = {
    "event_number": "int64",
    "weight": "float64",
    "mhat": "float64",
    "muon": f"var * {{{KINEMATICS}, charge: int32, iso: float64}}",
    "electron": f"var * {{{KINEMATICS}, charge: int32, iso: float64}}",
    "photon": f"var * {{{KINEMATICS}, iso: float64}}",
    "jet": f"var * {{{KINEMATICS}, btag: int32, ctag: int32}}",
    "tau": f"var * {{{KINEMATICS}, charge: int32}}",
    "met_pt": "float64",
    "met_phi": "float64",
}
ROOT_BASKET_EVENTS = 2_500
"""Events per basket of the particle-level TTree, as its writers (generator, merge, Delphes flattening) write it.
uproot keeps some bookkeeping per basket written: baskets of one Pythia batch (100 events) made the generator's
memory grow with the sample (measured: +25 MB from 10⁴ to 10⁵ events, 1 000 baskets); 40 baskets of 2 500 add
~1 MB, and the columns held until a basket is written are a few MB. The last basket is written after the last
event, while the run waits: at 10 000 a basket of the whole sample took 0.17 s."""


class JetDefinition(StrictModel):
    """Jets clustered with fastjet from the visible final-state particles (isolated leptons left out)."""

    algorithm: Literal["antikt", "kt", "cambridge"] = Field(
        default="antikt", description="fastjet's anti-kT, kT or Cambridge/Aachen algorithm."
    )
    radius: float = Field(default=0.4, gt=0.0, le=2.0, description="Jet radius R.")
    pt_min_gev: float = Field(default=20.0, ge=0.0, description="Jets below this pT are not stored.")
    tagging: Literal["cone", "ghost"] = Field(
        default="cone",
        description="b/c tag: cone, a B (C) hadron with pT > 5 GeV within ΔR < R of the jet axis; ghost, such a "
        "hadron clustered into the jet as a ghost of negligible momentum. A b-tagged jet is never c-tagged.",
    )


@dataclass(frozen=True)
class ParticleBatch:
    """Every particle of a batch of events as flat numpy columns, so each step is a few vectorised operations."""

    counts: Ints  # particles per event
    event: Ints  # event (position in the batch) of each particle
    index: Ints  # position in its event's record
    pid: Ints
    status: Ints
    daughter1: Ints  # record index (in its event) of the first decay product, 0 for none
    daughter2: Ints  # of the last, 0 when there is one only
    px: Floats
    py: Floats
    pz: Floats
    e: Floats
    m: Floats
    weight: Floats  # per event
    mhat: Floats  # per event


def flatten_batch(events: Any) -> ParticleBatch:
    """The particles of a batch from Pythia8's ``nextBatch``, read straight from the awkward array's buffers: its
    high-level operations took 4 ms a batch (0.4 s of 10 000 events) on the generator's critical path."""
    import numpy as np  # noqa: PLC0415

    layout = events.layout
    prt, info = layout.content("prt"), layout.content("info")
    offsets = np.asarray(prt.offsets)
    rows = slice(int(offsets[0]), int(offsets[-1]))
    record = prt.content
    columns = {name: np.asarray(record.content(name).data)[rows] for name in ("status", "daughter1", "daughter2", "m")}
    columns |= {name: np.asarray(record.content("p").content(name).data)[rows] for name in FOUR}
    columns["pid"] = np.asarray(record.content("id").data)[rows]
    # the first weight of each event (Pythia's nominal one), 1 for an event without weights
    weights = info.content("weights")
    starts, stops = np.asarray(weights.starts), np.asarray(weights.stops)
    weight = np.ones(len(layout))
    weighted = stops > starts
    weight[weighted] = np.asarray(weights.content.data)[starts[weighted]]
    return particle_batch(
        np.diff(offsets).astype(np.int64),
        columns,
        weight=weight,
        mhat=np.asarray(info.content("mHat").data, dtype=np.float64)[: len(layout)],
    )


PARTICLE_FIELDS = ("pid", "status", "daughter1", "daughter2", "px", "py", "pz", "e", "m")
"""The per-particle columns of a ``ParticleBatch`` besides the positions, which follow from the counts."""


def particle_batch(counts: Ints, columns: dict[str, Any], weight: Floats, mhat: Floats) -> ParticleBatch:
    """A batch from its particles per event and the ``PARTICLE_FIELDS`` columns."""
    import numpy as np  # noqa: PLC0415

    event = np.repeat(np.arange(len(counts)), counts)
    index = np.arange(len(event)) - (np.cumsum(counts) - counts)[event]
    fields = {name: columns[name] for name in PARTICLE_FIELDS}
    return ParticleBatch(counts=counts, event=event, index=index, weight=weight, mhat=mhat, **fields)


def final_state_columns(
    batch: ParticleBatch, lepton_pt_min_gev: float, jets: JetDefinition | None, first: int
) -> dict[str, Any]:
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
        chosen = np.flatnonzero((np.abs(pid) == flavour) & (pt > lepton_pt_min_gev))
        iso = _isolation(chosen, event, eta, phi, pt, n_events)
        fields: dict[str, Any] = {"eta": eta[chosen], "phi": phi[chosen], "mass": batch.m[visible[chosen]]}
        fields |= {"charge": -np.sign(pid[chosen]).astype(np.int32), "iso": iso}
        columns[name] = _lists(pt[chosen], fields, event[chosen], n_events)
        jet_input[chosen[iso < ISOLATED_BELOW]] = False
    chosen = np.flatnonzero((pid == PHOTON) & (pt > PHOTON_PT_MIN_GEV))
    photon = {"eta": eta[chosen], "phi": phi[chosen], "mass": np.zeros(len(chosen))}
    photon["iso"] = _isolation(chosen, event, eta, phi, pt, n_events)
    columns["photon"] = _lists(pt[chosen], photon, event[chosen], n_events)
    columns["tau"] = _hadronic_taus(batch)
    if jets is not None:
        columns["jet"] = _jets(batch, visible[jet_input], jets)
    return columns | {"met_pt": np.hypot(met_x, met_y), "met_phi": np.arctan2(met_y, met_x)}


def _hadronic_taus(batch: ParticleBatch) -> Any:
    """The visible part of each hadronically decaying τ, stored above a visible pT of 10 GeV.

    A τ decays where none of its decay products is a τ (a τ that radiates a photon in the shower has a τ among its
    products, its copy); the decay is leptonic when an electron or a muon is among them, else hadronic. The visible
    four-momentum is the sum of the products that are not neutrinos (p_τ − p_ν); the charge is the τ's.
    """
    import numpy as np  # noqa: PLC0415

    n_events = len(batch.counts)
    starts = np.cumsum(batch.counts) - batch.counts
    tau = np.flatnonzero((np.abs(batch.pid) == TAU) & (batch.daughter1 > 0))
    first = batch.daughter1[tau]
    sizes = np.maximum(batch.daughter2[tau], first) - first + 1
    owner = np.repeat(np.arange(len(tau)), sizes)
    rows = (
        np.repeat(starts[batch.event[tau]] + first, sizes)
        + np.arange(sizes.sum())
        - np.repeat(np.cumsum(sizes) - sizes, sizes)
    )
    code = np.abs(batch.pid[rows])
    copy_or_leptonic = np.bincount(owner[np.isin(code, (TAU, *CHARGED_LEPTONS))], minlength=len(tau)) > 0
    visible = ~np.isin(code, NEUTRINOS)
    px, py, pz, e = (
        np.bincount(owner[visible], getattr(batch, name)[rows[visible]], minlength=len(tau)).astype(np.float64)
        for name in FOUR
    )
    pt, eta, phi = _kinematics(px, py, pz)
    chosen = np.flatnonzero(~copy_or_leptonic & (pt > TAU_PT_MIN_GEV))
    mass = np.sqrt(np.maximum(e[chosen] ** 2 - pt[chosen] ** 2 - pz[chosen] ** 2, 0.0))
    charge = -np.sign(batch.pid[tau[chosen]]).astype(np.int32)
    fields = {"eta": eta[chosen], "phi": phi[chosen], "mass": mass, "charge": charge}
    return _lists(pt[chosen], fields, batch.event[tau[chosen]], n_events)


def _isolation(chosen: Ints, event: Ints, eta: Floats, phi: Floats, pt: Floats, n_events: int) -> Floats:
    """Scalar pT sum of the other visible particles within ΔR < 0.3 of each chosen one, relative to its pT."""
    import numpy as np  # noqa: PLC0415

    owner, other = _same_event_pairs(event[chosen], event, n_events)
    particle = chosen[owner]
    near = (_delta_r(eta[particle], phi[particle], eta[other], phi[other]) < ISOLATION_CONE) & (other != particle)
    isolation: Floats = np.bincount(owner[near], pt[other[near]], minlength=len(chosen)) / pt[chosen]
    return isolation


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


def _jets(batch: ParticleBatch, inputs: Ints, definition: JetDefinition) -> Any:
    """Jets of the ``inputs`` particles, b- and c-tagged by the B and C hadrons of the record (pT > 5 GeV)."""
    import awkward as ak  # noqa: PLC0415
    import fastjet  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    n_events = len(batch.counts)
    # b and c hadrons decay, so they come from the whole record; a zero tens digit marks quarks and diquarks (5, 5503)
    code = np.abs(batch.pid)
    hadron = ((code // 10) % 10 != 0) & (np.hypot(batch.px, batch.py) > HADRON_PT_MIN_GEV)
    bottom = hadron & (((code // 100) % 10 == BOTTOM) | ((code // 1000) % 10 == BOTTOM))
    charm = hadron & ~bottom & (((code // 100) % 10 == CHARM) | ((code // 1000) % 10 == CHARM))
    tags = {"btag": np.flatnonzero(bottom), "ctag": np.flatnonzero(charm)}
    ghosts = np.concatenate(list(tags.values())) if definition.tagging == "ghost" else np.zeros(0, dtype=np.int64)
    # real particles first, then the ghosts, event by event: a constituent index ≥ the event's real count is a ghost
    members = np.concatenate([inputs, ghosts])
    scale = np.concatenate([np.ones(len(inputs)), np.full(len(ghosts), GHOST_SCALE)])
    order = np.lexsort((np.arange(len(members)) >= len(inputs), batch.event[members]))
    members, scale = members[order], scale[order]
    four = {
        name: getattr(batch, field)[members] * scale for name, field in zip(("px", "py", "pz", "E"), FOUR, strict=True)
    }
    particles = ak.unflatten(ak.zip(four), np.bincount(batch.event[members], minlength=n_events))
    algorithm = getattr(fastjet, ALGORITHMS[definition.algorithm])
    sequence = fastjet.ClusterSequence(particles, fastjet.JetDefinition(algorithm, definition.radius))
    found = sequence.inclusive_jets(definition.pt_min_gev)
    px, py, pz, e = (np.asarray(ak.flatten(found[name], axis=1)) for name in four)
    event = np.repeat(np.arange(n_events), np.asarray(ak.num(found, axis=1)))
    pt, eta, phi = _kinematics(px, py, pz)
    if definition.tagging == "ghost":
        sizes = np.bincount(batch.event[members], minlength=n_events)
        flags = _ghost_tags(members, sizes, sequence.constituent_index(definition.pt_min_gev), tags)
    else:
        flags = {name: _cone_tag(batch, hadrons, event, eta, phi, definition.radius) for name, hadrons in tags.items()}
    flags["ctag"] = flags["ctag"] & ~flags["btag"]
    mass = np.sqrt(np.maximum(e**2 - pt**2 - pz**2, 0.0))
    columns = {"eta": eta, "phi": phi, "mass": mass, **{name: flag.astype(np.int32) for name, flag in flags.items()}}
    return _lists(pt, columns, event, n_events)


def _cone_tag(batch: ParticleBatch, hadrons: Ints, event: Ints, eta: Floats, phi: Floats, radius: float) -> Any:
    """Jets with one of ``hadrons`` within ΔR < ``radius`` of their axis."""
    import numpy as np  # noqa: PLC0415

    hadron_pt, hadron_eta, hadron_phi = _kinematics(batch.px[hadrons], batch.py[hadrons], batch.pz[hadrons])
    del hadron_pt  # the pT threshold is already applied
    owner, other = _same_event_pairs(event, batch.event[hadrons], len(batch.counts))
    near = _delta_r(eta[owner], phi[owner], hadron_eta[other], hadron_phi[other]) < radius
    return np.bincount(owner[near], minlength=len(eta)) > 0


def _ghost_tags(members: Ints, sizes: Ints, constituents: Any, tags: dict[str, Ints]) -> dict[str, Any]:
    """Jets holding a ghost of each tag's hadrons, from fastjet's constituent indices (positions in the event)."""
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    per_event = np.asarray(ak.num(constituents, axis=1))
    counts = np.asarray(ak.flatten(ak.num(constituents, axis=2)))
    n_jets = len(counts)
    starts = np.repeat(np.cumsum(sizes) - sizes, per_event)
    flat = np.asarray(ak.flatten(constituents, axis=None)) + np.repeat(starts, counts)
    jet = np.repeat(np.arange(n_jets), counts)
    record = members[flat]  # the constituent's index in the batch's record
    return {name: np.bincount(jet[np.isin(record, hadrons)], minlength=n_jets) > 0 for name, hadrons in tags.items()}


def pair_mass(first: Any, second: Any) -> Any:
    """Mean mass of the (first, second) pairs of a pair-produced resonance, per event.

    The two leading objects of ``first`` are paired with the two leading of ``second`` in the way that makes the
    two pair masses closest (the pairing of leptoquark searches, e.g. CMS arXiv:1811.01197); None where an event
    has fewer than two of either. Arguments are jagged awkward arrays of Momentum4D records.
    """
    import awkward as ak  # noqa: PLC0415

    a0, a1, b0, b1 = (ak.pad_none(objects, 2, axis=1)[:, i] for objects in (first, second) for i in (0, 1))
    (s0, s1), (c0, c1) = ((a0 + b0).mass, (a1 + b1).mass), ((a0 + b1).mass, (a1 + b0).mass)
    return ak.where(abs(s0 - s1) <= abs(c0 - c1), (s0 + s1) / 2, (c0 + c1) / 2)
