"""Particle-level objects of tools/io/final_state.py on hand-built event records: jet algorithms, b/c tagging by
cone and by ghost association, photons and their isolation, hadronic taus."""

from __future__ import annotations

import math
from typing import Any

import awkward as ak
import numpy as np
import pytest
import pythia8mc

from madagents_tools.io.final_state import JetDefinition, ParticleBatch, final_state_columns, flatten_batch

Particle = tuple[int, int, float, float, float] | tuple[int, int, float, float, float, int, int]
"""(pid, status, pT, eta, phi[, daughter1, daughter2]); massless unless decayed (the B and D hadrons: 5 GeV)."""


def batch(*events: list[Particle]) -> ParticleBatch:
    rows = [(index, *particle, 0, 0)[:8] for index, event in enumerate(events) for particle in event]
    event, pid, status, pt, eta, phi, daughter1, daughter2 = (np.asarray([row[i] for row in rows]) for i in range(8))
    mass = np.where(status < 0, 5.0, 0.0)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    counts = np.bincount(event, minlength=len(events))
    return ParticleBatch(
        counts=counts,
        event=event.astype(np.int64),
        index=np.arange(len(event)) - (np.cumsum(counts) - counts)[event],
        pid=pid.astype(np.int64),
        status=status.astype(np.int64),
        daughter1=daughter1.astype(np.int64),
        daughter2=daughter2.astype(np.int64),
        px=px,
        py=py,
        pz=pz,
        e=np.sqrt(px**2 + py**2 + pz**2 + mass**2),
        m=mass,
        weight=np.ones(len(events)),
        mhat=np.full(len(events), math.nan),
    )


def jets(record: ParticleBatch, **definition: Any) -> list[list[dict[str, Any]]]:
    columns = final_state_columns(record, 5.0, JetDefinition(pt_min_gev=1.0, **definition), 0)
    return columns["jet"].to_list()  # type: ignore[no-any-return]


def test_kt_and_cambridge_merge_the_soft_pair_anti_kt_does_not() -> None:
    # a hard π⁺ at φ = 0 and two soft ones at φ = 0.45 and 0.75 (ΔR 0.3 apart), R = 0.5
    record = batch([(211, 1, 100.0, 0.0, 0.0), (211, 1, 5.0, 0.0, 0.45), (211, 1, 5.0, 0.0, 0.75)])
    leading = {name: jets(record, algorithm=name, radius=0.5)[0][0]["pt"] for name in ("antikt", "kt", "cambridge")}
    # anti-kT: the hard one takes the nearer soft one, |(100, 0) + 5 (cos 0.45, sin 0.45)| = 104.52 GeV
    assert leading["antikt"] == pytest.approx(104.525, abs=0.001)
    assert leading["kt"] == pytest.approx(100.0)
    assert leading["cambridge"] == pytest.approx(100.0)


def test_ghost_association_tags_the_jet_that_takes_the_hadron() -> None:
    # jets at φ = 0 (100 GeV) and φ = 0.7 (50 GeV); a decayed B⁰ at φ = 0.38 lies within R = 0.4 of both axes
    event = [(211, 1, 100.0, 0.0, 0.0), (211, 1, 50.0, 0.0, 0.7), (511, -2, 20.0, 0.0, 0.38)]
    cone = jets(batch(event), tagging="cone")[0]
    ghost = jets(batch(event), tagging="ghost")[0]
    assert [jet["btag"] for jet in cone] == [1, 1]
    assert [jet["btag"] for jet in ghost] == [1, 0]  # anti-kT gives the ghost to the harder jet
    assert [jet["pt"] for jet in ghost] == pytest.approx([100.0, 50.0])  # ghosts change no jet


def test_c_tag_from_charm_hadrons_and_never_on_a_b_jet() -> None:
    charm = [(211, 1, 60.0, 0.0, 0.0), (421, -2, 10.0, 0.0, 0.05)]
    both = [(211, 1, 60.0, 0.0, 0.0), (421, -2, 10.0, 0.0, 0.05), (521, -2, 20.0, 0.0, 0.02)]
    soft = [(211, 1, 60.0, 0.0, 0.0), (421, -2, 3.0, 0.0, 0.05)]  # below the 5 GeV hadron threshold
    for tagging in ("cone", "ghost"):
        tagged = [(event[0]["btag"], event[0]["ctag"]) for event in jets(batch(charm, both, soft), tagging=tagging)]
        assert tagged == [(0, 1), (1, 0), (0, 0)], tagging


def test_photons_are_stored_with_their_isolation() -> None:
    record = batch(
        [(22, 1, 40.0, 0.0, 0.0), (211, 1, 4.0, 0.0, 0.1), (22, 1, 8.0, 1.0, 2.0), (22, 1, 30.0, -1.0, -2.0)]
    )
    photons = final_state_columns(record, 5.0, None, 0)["photon"].to_list()[0]
    assert [photon["pt"] for photon in photons] == pytest.approx([40.0, 30.0])  # the 8 GeV one is below 10 GeV
    assert [photon["iso"] for photon in photons] == pytest.approx([0.1, 0.0])


def test_hadronic_taus_are_their_visible_decay_products() -> None:
    # τ⁻ (record index 1) radiates a photon: its copy (3) decays to ν_τ π⁻ π⁰ (5-7); τ⁺ (2) decays to e⁺ ν ν̄ (8-10)
    event: list[Particle] = [
        (90, -11, 0.0, 0.0, 0.0),
        (15, -23, 60.0, 0.5, 0.0, 3, 4),
        (-15, -23, 50.0, -0.5, 3.0, 8, 10),
        (15, -51, 55.0, 0.5, 0.0, 5, 7),
        (22, 1, 5.0, 0.5, 0.1),
        (16, 1, 15.0, 0.5, 0.0),
        (-211, 1, 25.0, 0.5, 0.0),
        (111, 1, 15.0, 0.5, 0.0),
        (-11, 1, 20.0, -0.5, 3.0),
        (12, 1, 20.0, -0.5, 3.0),
        (-16, 1, 10.0, -0.5, 3.0),
    ]
    (taus,) = final_state_columns(batch(event), 5.0, None, 0)["tau"].to_list()
    assert len(taus) == 1  # the leptonic τ⁺ and the radiating τ⁻ (a τ among its products) are not τ_h
    assert taus[0]["pt"] == pytest.approx(40.0)  # π⁻ + π⁰, collinear; the ν_τ's 15 GeV is missing
    assert taus[0]["charge"] == -1
    assert (taus[0]["eta"], taus[0]["phi"]) == pytest.approx((0.5, 0.0))


def test_hadronic_taus_below_10_gev_visible_pt_are_not_stored() -> None:
    event: list[Particle] = [
        (90, -11, 0.0, 0.0, 0.0),
        (-15, -23, 20.0, 0.0, 0.0, 2, 3),
        (-16, 1, 12.0, 0.0, 0.0),
        (211, 1, 8.0, 0.0, 0.0),
    ]
    assert final_state_columns(batch(event), 5.0, None, 0)["tau"].to_list() == [[]]


def reference_isolation(event: list[Particle], flavour: int, pt_min: float) -> list[tuple[float, float]]:
    """(pT, iso) of each chosen particle, by the definition: every other visible particle within ΔR < 0.3."""
    visible = [p for p in event if p[1] > 0 and abs(p[0]) not in (12, 14, 16)]
    chosen = [p for p in visible if abs(p[0]) == flavour and p[2] > pt_min]
    result = []
    for particle in chosen:
        cone = 0.0
        for other in visible:
            delta_phi = (particle[4] - other[4] + math.pi) % (2 * math.pi) - math.pi
            if other is not particle and math.hypot(particle[3] - other[3], delta_phi) < 0.3:
                cone += other[2]
        result.append((particle[2], cone / particle[2]))
    return sorted(result, reverse=True)


def test_isolation_sums_every_other_visible_particle_in_the_cone_of_its_event_and_no_other() -> None:
    rng = np.random.default_rng(7)
    codes = [13, -13, 11, 22, 211, -211, 130, 14]
    events: list[list[Particle]] = [
        [
            (int(rng.choice(codes)), 1, float(rng.uniform(1, 60)), float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3)))
            for _ in range(int(rng.integers(0, 60)))
        ]
        for _ in range(40)
    ]
    # neighbours just inside and just outside the cone in η, across φ = ±π, and the same place in the next event
    events.append(
        [(13, 1, 50.0, 1.0, 3.1), (211, 1, 3.0, 1.2999, 3.1), (211, 1, 7.0, 1.3001, 3.1), (22, 1, 2.0, 1.0, -3.1)]
    )
    events.append([(211, 1, 9.0, 1.0, 3.1)])
    columns = final_state_columns(batch(*events), 5.0, None, 0)
    for name, flavour, pt_min in (("muon", 13, 5.0), ("electron", 11, 5.0), ("photon", 22, 10.0)):
        stored = [sorted(((o["pt"], o["iso"]) for o in objects), reverse=True) for objects in columns[name].to_list()]
        expected = [reference_isolation(event, flavour, pt_min) for event in events]
        assert [len(objects) for objects in stored] == [len(objects) for objects in expected], name
        flat = [value for objects in stored for pair in objects for value in pair]
        assert flat == pytest.approx([value for objects in expected for pair in objects for value in pair], rel=1e-12)
    assert columns["muon"].to_list()[-2][0]["iso"] == pytest.approx(5.0 / 50.0)


def _flattened_by_awkward(events: Any) -> dict[str, Any]:
    """What flatten_batch reads from the buffers, computed with awkward's own operations."""
    particles = ak.flatten(events.prt, axis=1)
    columns = {name: np.asarray(particles[name]) for name in ("status", "daughter1", "daughter2", "m")}
    columns |= {name: np.asarray(particles.p[name]) for name in ("px", "py", "pz", "e")}
    return columns | {
        "pid": np.asarray(particles.id),
        "counts": np.asarray(ak.num(events.prt, axis=1)),
        "weight": np.asarray(ak.fill_none(ak.firsts(events.info.weights), 1.0)),
        "mhat": np.asarray(events.info.mHat),
    }


def _particle(pid: int, px: float) -> dict[str, Any]:
    p = {"px": px, "py": 1.0, "pz": 2.0, "e": 10.0}
    return {"id": pid, "status": 1, "daughter1": 0, "daughter2": 0, "p": p, "m": 0.1}


def test_batches_are_flattened_as_awkward_reads_them() -> None:
    pythia = pythia8mc.Pythia("", False)
    for line in ["Beams:eCM = 13000", "WeakSingleBoson:ffbar2gmZ = on", "Next:numberCount = 0", "Random:seed = 7"]:
        pythia.readString(line)
    pythia.init()
    generated = pythia.nextBatch(4, 10.0)
    made = ak.Array(
        [
            {"prt": [_particle(11, 1.0)], "info": {"mHat": 90.0, "weights": [2.0]}},
            {"prt": [_particle(13, 3.0), _particle(-13, 4.0)], "info": {"mHat": 91.0, "weights": []}},
            {"prt": [], "info": {"mHat": 92.0, "weights": [0.5, 7.0]}},
        ]
    )[1:]  # a slice: its particles start inside the buffers
    for events in (generated, made):
        batch, expected = flatten_batch(events), _flattened_by_awkward(events)
        for name, column in expected.items():
            np.testing.assert_array_equal(getattr(batch, name), column, err_msg=name)
    assert flatten_batch(made).weight.tolist() == [1.0, 0.5]
