"""The parametric detector response, one batch of particle-level events at a time.

Each object is smeared (log-normal around the true momentum with the card's relative resolution, as Delphes'
MomentumSmearing does), then kept with the card's efficiency evaluated at the smeared pT, then (leptons) cut on
the particle-level relative isolation. Jets are b-tagged from their truth label; MET is the particle-level MET
corrected for the smearing of the objects that are written. Every random number comes from one of a fixed set of
numpy streams spawned from the request's seed, each drawing one number per input object, so the output depends
on the seed only (not on the batch size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from madagents_tools.detector.detector_card import DetectorCard, LeptonCard, Resolution, efficiency, relative_resolution

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]
    Flags: TypeAlias = npt.NDArray[np.bool_]
    Ints: TypeAlias = npt.NDArray[np.int64]

__all__ = ["STREAMS", "Tally", "branch_types", "detector_columns", "make_streams"]

STREAMS = (
    "muon_smear",
    "muon_keep",
    "electron_smear",
    "electron_keep",
    "jet_smear",
    "jet_keep",
    "btag",
    "met",
)
"""Independent random streams, spawned from the seed in this order (numpy SeedSequence.spawn)."""

LEPTON_TYPE = "var * {PT: float32, Eta: float32, Phi: float32, Charge: int32, IsolationVar: float32}"
JET_TYPE = "var * {PT: float32, Eta: float32, Phi: float32, Mass: float32, BTag: uint32}"
EVENT_TYPE = "var * {Number: int64, Weight: float32, MHat: float32}"
MET_TYPE = "var * {MET: float32, Phi: float32}"
LEPTON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "iso")
JET_FIELDS = ("pt", "eta", "phi", "mass", "btag")

Tally: TypeAlias = dict[str, list[int]]
"""Stage name -> [objects in, objects out], summed over batches."""


def branch_types(has_jets: bool) -> dict[str, str]:
    """The Delphes-like collections of the output TTree; each has a ``<name>_size`` counter, as in Delphes."""
    types = {"Event": EVENT_TYPE, "Muon": LEPTON_TYPE, "Electron": LEPTON_TYPE}
    return types | ({"Jet": JET_TYPE} if has_jets else {}) | {"MissingET": MET_TYPE}


def make_streams(seed: int) -> dict[str, Any]:
    import numpy as np  # noqa: PLC0415

    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.Generator(np.random.PCG64(child)) for name, child in zip(STREAMS, children, strict=True)}


def detector_columns(events: Any, card: DetectorCard, streams: dict[str, Any], tally: Tally) -> dict[str, Any]:
    """The output columns of one batch of particle-level events (fields ``muon_pt``, ..., ``met_phi``)."""
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    n_events = len(events)
    columns: dict[str, Any] = {}
    shift = np.zeros((2, n_events))  # Σ (smeared − true) p⃗T of the written objects
    for name, lepton_card in (("muon", card.muon), ("electron", card.electron)):
        flat = _flat(events, name, LEPTON_FIELDS)
        columns[name.capitalize()] = _leptons(name, flat, lepton_card, streams, tally, shift)
    if "jet_pt" in events.fields:
        columns["Jet"] = _jets(_flat(events, "jet", JET_FIELDS), card, streams, tally, shift)
    met_x = np.asarray(events.met_pt) * np.cos(np.asarray(events.met_phi)) - shift[0]
    met_y = np.asarray(events.met_pt) * np.sin(np.asarray(events.met_phi)) - shift[1]
    soft = streams["met"].standard_normal((n_events, 2)) * card.missing_et.soft_resolution_gev
    met_x, met_y = met_x + soft[:, 0], met_y + soft[:, 1]
    one = np.ones(n_events, dtype=np.int64)
    event = {
        "Number": np.asarray(events.event_number, dtype=np.int64),
        "Weight": np.asarray(events.weight, dtype=np.float32),
        "MHat": np.asarray(events.mhat, dtype=np.float32),
    }
    met = {"MET": np.hypot(met_x, met_y).astype(np.float32), "Phi": np.arctan2(met_y, met_x).astype(np.float32)}
    return {"Event": ak.unflatten(ak.zip(event), one)} | columns | {"MissingET": ak.unflatten(ak.zip(met), one)}


@dataclass(frozen=True)
class _Flat:
    """One collection of a batch as flat numpy columns, with the event (position in the batch) of each object."""

    columns: dict[str, Any]
    event: Ints
    n_events: int

    def __getitem__(self, name: str) -> Any:
        return self.columns[name]

    def __len__(self) -> int:
        return len(self.event)


def _flat(events: Any, name: str, fields: tuple[str, ...]) -> _Flat:
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    counts = np.asarray(ak.num(events[f"{name}_pt"], axis=1), dtype=np.int64)
    columns = {field: np.asarray(ak.flatten(events[f"{name}_{field}"], axis=1)) for field in fields}
    return _Flat(columns, np.repeat(np.arange(len(counts)), counts), len(counts))


def _leptons(name: str, flat: _Flat, card: LeptonCard, streams: dict[str, Any], tally: Tally, shift: Floats) -> Any:
    import numpy as np  # noqa: PLC0415

    pt, eta = (np.asarray(flat[field], dtype=np.float64) for field in ("pt", "eta"))
    smeared = pt * _smear(card.resolution, flat, streams[f"{name}_smear"])
    found = streams[f"{name}_keep"].random(len(flat)) < efficiency(card.efficiency, smeared, np.abs(eta))
    iso = np.asarray(flat["iso"], dtype=np.float64)
    isolated = found & (iso < card.isolation_max) if card.isolation_max is not None else found
    _count(tally, name, np.ones(len(flat), dtype=np.bool_), found)
    _count(tally, f"{name}_isolation", found, isolated)
    _add_shift(shift, flat, isolated, smeared)
    fields = {
        "PT": smeared,
        "Eta": eta,
        "Phi": np.asarray(flat["phi"], dtype=np.float64),
        "Charge": np.asarray(flat["charge"], dtype=np.int32),
        "IsolationVar": iso,
    }
    return _collection(flat, isolated, fields)


def _jets(flat: _Flat, card: DetectorCard, streams: dict[str, Any], tally: Tally, shift: Floats) -> Any:
    import numpy as np  # noqa: PLC0415

    pt, eta = (np.asarray(flat[field], dtype=np.float64) for field in ("pt", "eta"))
    factor = _smear(card.jet.resolution, flat, streams["jet_smear"])
    smeared, abs_eta = pt * factor, np.abs(eta)
    kept = streams["jet_keep"].random(len(flat)) < efficiency(card.jet.efficiency, smeared, abs_eta)
    # the particle-level jets carry a truth b label only: every other jet gets the light-jet mistag rate
    truth_b = np.asarray(flat["btag"]) != 0
    rate = np.where(truth_b, efficiency(card.btag.b, smeared, abs_eta), efficiency(card.btag.light, smeared, abs_eta))
    tagged = streams["btag"].random(len(flat)) < rate
    _count(tally, "jet", np.ones(len(flat), dtype=np.bool_), kept)
    _count(tally, "btag_b", kept & truth_b, kept & truth_b & tagged)
    _count(tally, "btag_light", kept & ~truth_b, kept & ~truth_b & tagged)
    _add_shift(shift, flat, kept, smeared)
    fields = {
        "PT": smeared,
        "Eta": eta,
        "Phi": np.asarray(flat["phi"], dtype=np.float64),
        "Mass": np.asarray(flat["mass"], dtype=np.float64) * factor,
        "BTag": tagged.astype(np.uint32),
    }
    return _collection(flat, kept, fields)


def _smear(resolution: Resolution, flat: _Flat, stream: Any) -> Floats:
    """Factor multiplying each object's momentum: log-normal with mean 1 and σ = the relative resolution."""
    import numpy as np  # noqa: PLC0415

    pt, eta, mass = (np.asarray(flat[field], dtype=np.float64) for field in ("pt", "eta", "mass"))
    energy = np.hypot(pt * np.cosh(eta), mass)
    relative = relative_resolution(resolution, pt, np.abs(eta), energy)
    normal = stream.standard_normal(len(pt))
    width = np.sqrt(np.log1p(relative**2))  # Delphes' LogNormal(mean, σ): b = sqrt(log(1 + σ²/mean²))
    factor: Floats = np.exp(width * normal - width**2 / 2)
    return factor


def _count(tally: Tally, stage: str, before: Flags, after: Flags) -> None:
    import numpy as np  # noqa: PLC0415

    totals = tally.setdefault(stage, [0, 0])
    totals[0] += int(np.count_nonzero(before))
    totals[1] += int(np.count_nonzero(after))


def _add_shift(shift: Floats, flat: _Flat, written: Flags, smeared_pt: Floats) -> None:
    import numpy as np  # noqa: PLC0415

    delta = (smeared_pt - np.asarray(flat["pt"], dtype=np.float64))[written]
    phi = np.asarray(flat["phi"], dtype=np.float64)[written]
    for axis, projection in enumerate((np.cos(phi), np.sin(phi))):
        shift[axis] += np.bincount(flat.event[written], delta * projection, minlength=flat.n_events)


def _collection(flat: _Flat, written: Flags, fields: dict[str, Any]) -> Any:
    """Jagged lists of the written objects, hardest (smeared pT) first, with Delphes' field names."""
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    event = flat.event[written]
    order = np.lexsort((-fields["PT"][written], event))  # stable: equal pT keeps the input order
    columns = {name: values[written][order] for name, values in fields.items()}
    # Delphes stores Float_t: the floats are written single precision, like a Delphes file
    columns = {
        name: values.astype(np.float32) if values.dtype == np.float64 else values for name, values in columns.items()
    }
    return ak.unflatten(ak.zip(columns), np.bincount(event, minlength=flat.n_events))
