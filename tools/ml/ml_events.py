"""Two-object event features for the ML tools: read the two leading objects of a final-state TTree, map them to
features and back, and write generated events in the TTree schema of :mod:`madagents_tools.io.final_state`.

Two parametrisations of a pair of objects (1 = leading, 2 = subleading in pT):

- ``objects``: log pT₁, η₁, log pT₂, η₂, Δφ₁₂ (the global azimuth is dropped: the physics is invariant under it);
- ``pair``: log m₁₂, log(pT₁₂ + 1 GeV), y₁₂, cos θ*, Δφ* — mass, transverse momentum and rapidity of the pair, and
  the direction of the leading object in the pair rest frame (polar angle to the beam, azimuth relative to the
  pair's). A resonance peak (Z → μμ) is one narrow feature here rather than a correlation of five.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from madagents_tools.io.final_state import BRANCHES
from madagents_tools.ml.ml_common import MLInputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]
    Ints: TypeAlias = npt.NDArray[np.int64]

__all__ = [
    "CLASSIFIER_FEATURES",
    "FEATURES",
    "FEATURE_LABELS",
    "LeadingPair",
    "Parametrisation",
    "classifier_features",
    "features",
    "from_features",
    "read_leading_pair",
    "write_events",
]

Parametrisation = Literal["pair", "objects"]
Collection = Literal["muon", "electron"]
FEATURES: dict[Parametrisation, tuple[str, ...]] = {
    "objects": ("log_pt1", "eta1", "log_pt2", "eta2", "dphi12"),
    "pair": ("log_m12", "log_pt12", "y12", "cos_theta_star", "dphi_star"),
}
CLASSIFIER_FEATURES = (*FEATURES["objects"], *FEATURES["pair"])
FEATURE_LABELS = {
    "log_pt1": "log($p_T^{(1)}$ / GeV)",
    "eta1": "$\\eta^{(1)}$",
    "log_pt2": "log($p_T^{(2)}$ / GeV)",
    "eta2": "$\\eta^{(2)}$",
    "dphi12": "$\\Delta\\phi_{12}$",
    "log_m12": "log($m_{12}$ / GeV)",
    "log_pt12": "log($p_T^{(12)}$ / GeV + 1)",
    "y12": "$y_{12}$",
    "cos_theta_star": "cos $\\theta^*$",
    "dphi_star": "$\\Delta\\phi^*$",
}
"""Axis labels of the features in plots."""
PT_OFFSET_GEV = 1.0
"""log(pT₁₂ + 1 GeV): the pair pT of Drell–Yan peaks at a few GeV and reaches 0."""


@dataclass(frozen=True)
class LeadingPair:
    """The two leading objects (columns 0, 1) of one collection in every event that has at least two."""

    pt: Floats
    eta: Floats
    phi: Floats
    mass: Floats
    charge: Ints
    weight: Floats
    n_events: int
    """Events in the file, with or without a pair."""
    weight_sum: float
    """Sum of the weights of all events in the file."""
    n_more: int
    """Events with more than two objects: only the two leading are kept."""
    has_jets: bool
    """The file has jet branches (generated files then have them too, empty)."""


def read_leading_pair(path: Path, collection: Collection) -> LeadingPair:
    """The two leading objects of ``collection`` per event of the TTree ``events``; raises ``MLInputError``."""
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import uproot  # noqa: PLC0415

    fields = ("pt", "eta", "phi", "mass", "charge")
    try:
        with uproot.open(path) as file:
            tree = file["events"]
            has_jets = "jet_pt" in set(tree.keys())
            events = tree.arrays([*(f"{collection}_{name}" for name in fields), "weight"])
    except FileNotFoundError:
        msg = f"events file {path} does not exist; run the generation step first"
        raise MLInputError(msg) from None
    except Exception as exc:  # uproot reports missing trees, branches and damage through many types
        msg = f"{path} has no readable TTree 'events' with {collection} branches ({type(exc).__name__}: {exc})"
        raise MLInputError(msg) from None
    counts = np.asarray(ak.num(events[f"{collection}_pt"], axis=1))
    keep = counts >= 2  # noqa: PLR2004 - a pair
    if np.count_nonzero(keep) < 2:  # noqa: PLR2004
        msg = f"{path}: only {np.count_nonzero(keep)} events have two {collection}s; there is nothing to learn from"
        raise MLInputError(msg)
    chosen = events[keep]
    order = ak.argsort(chosen[f"{collection}_pt"], axis=1, ascending=False, stable=True)[:, :2]
    columns = {name: np.asarray(chosen[f"{collection}_{name}"][order], dtype=np.float64) for name in fields}
    weights = np.asarray(events["weight"], dtype=np.float64)
    return LeadingPair(
        **{name: columns[name] for name in fields if name != "charge"},
        charge=columns["charge"].astype(np.int64),
        weight=weights[keep],
        n_events=len(counts),
        weight_sum=float(weights.sum()),
        n_more=int(np.count_nonzero(counts > 2)),  # noqa: PLR2004
        has_jets=has_jets,
    )


def features(pair: LeadingPair, parametrisation: Parametrisation) -> Floats:
    """One row of five features per event (see the module docstring)."""
    import numpy as np  # noqa: PLC0415

    if parametrisation == "objects":
        dphi = _wrap(pair.phi[:, 1] - pair.phi[:, 0])
        return np.stack([np.log(pair.pt[:, 0]), pair.eta[:, 0], np.log(pair.pt[:, 1]), pair.eta[:, 1], dphi], axis=1)
    first, second = (_four(pair.pt[:, i], pair.eta[:, i], pair.phi[:, i], pair.mass[:, i]) for i in (0, 1))
    total = first + second
    mass = np.sqrt(np.maximum(total[:, 0] ** 2 - np.sum(total[:, 1:] ** 2, axis=1), 1e-12))
    pt = np.hypot(total[:, 1], total[:, 2])
    rapidity = 0.5 * np.log((total[:, 0] + total[:, 3]) / (total[:, 0] - total[:, 3]))
    rest = _boost(first, -total[:, 1:] / total[:, :1])
    momentum = np.linalg.norm(rest[:, 1:], axis=1)
    cos_theta = np.clip(rest[:, 3] / momentum, -1.0, 1.0)
    dphi = _wrap(np.arctan2(rest[:, 2], rest[:, 1]) - np.arctan2(total[:, 2], total[:, 1]))
    return np.stack([np.log(mass), np.log(pt + PT_OFFSET_GEV), rapidity, cos_theta, dphi], axis=1)


def from_features(
    values: Floats, parametrisation: Parametrisation, phi: Floats, mass: float
) -> tuple[Floats, Floats, Floats, npt.NDArray[np.bool_]]:
    """Objects (pt, eta, phi, each of shape (N, 2), leading first) from features and a global azimuth ``phi``.

    Also returns where the two objects swapped places to be ordered in pT (their charges must follow).
    """
    import numpy as np  # noqa: PLC0415

    if parametrisation == "objects":
        pt = np.exp(values[:, [0, 2]])
        eta = values[:, [1, 3]]
        phis = np.stack([_wrap(phi), _wrap(phi + values[:, 4])], axis=1)
    else:
        pt, eta, phis = _decay(values, phi, mass)
    swapped = pt[:, 1] > pt[:, 0]
    for column in (pt, eta, phis):
        column[swapped] = column[swapped][:, ::-1]
    return pt, eta, phis, swapped


def _decay(values: Floats, phi: Floats, mass: float) -> tuple[Floats, Floats, Floats]:
    """Two objects of ``mass`` from the pair features: build the pair, decay it at rest, boost to the lab."""
    import numpy as np  # noqa: PLC0415

    pair_mass = np.maximum(np.exp(values[:, 0]), 2.0 * mass * (1 + 1e-9))
    pair_pt = np.maximum(np.exp(values[:, 1]) - PT_OFFSET_GEV, 0.0)
    transverse_mass = np.hypot(pair_mass, pair_pt)
    total = np.stack(
        [
            transverse_mass * np.cosh(values[:, 2]),
            pair_pt * np.cos(phi),
            pair_pt * np.sin(phi),
            transverse_mass * np.sinh(values[:, 2]),
        ],
        axis=1,
    )
    cos_theta = np.clip(values[:, 3], -1.0, 1.0)
    sin_theta, azimuth = np.sqrt(1.0 - cos_theta**2), phi + values[:, 4]
    momentum = np.sqrt(np.maximum(pair_mass**2 / 4 - mass**2, 0.0))
    direction = np.stack([sin_theta * np.cos(azimuth), sin_theta * np.sin(azimuth), cos_theta], axis=1)
    velocity = total[:, 1:] / total[:, :1]
    pts, etas, phis = [], [], []
    for sign in (1.0, -1.0):
        rest = np.concatenate([pair_mass[:, None] / 2, sign * momentum[:, None] * direction], axis=1)
        lab = _boost(rest, velocity)
        pts.append(np.hypot(lab[:, 1], lab[:, 2]))
        etas.append(np.arcsinh(lab[:, 3] / np.maximum(pts[-1], 1e-12)))
        phis.append(np.arctan2(lab[:, 2], lab[:, 1]))
    return np.stack(pts, axis=1), np.stack(etas, axis=1), np.stack(phis, axis=1)


def classifier_features(pair: LeadingPair) -> Floats:
    """Both parametrisations side by side (ten columns, :data:`CLASSIFIER_FEATURES`): more views of the same events."""
    import numpy as np  # noqa: PLC0415

    return np.concatenate([features(pair, "objects"), features(pair, "pair")], axis=1)


def _four(pt: Floats, eta: Floats, phi: Floats, mass: Floats) -> Floats:
    import numpy as np  # noqa: PLC0415

    pz = pt * np.sinh(eta)
    return np.stack([np.sqrt(pt**2 + pz**2 + mass**2), pt * np.cos(phi), pt * np.sin(phi), pz], axis=1)


def _boost(four: Floats, velocity: Floats) -> Floats:
    """Four-vectors (E, p) seen from a frame moving with ``-velocity``, i.e. boosted by ``velocity``."""
    import numpy as np  # noqa: PLC0415

    beta2 = np.sum(velocity**2, axis=1)
    gamma = 1.0 / np.sqrt(np.maximum(1.0 - beta2, 1e-15))
    along = np.sum(velocity * four[:, 1:], axis=1)
    factor = np.where(beta2 > 0, (gamma - 1.0) * along / np.where(beta2 > 0, beta2, 1.0), 0.0) + gamma * four[:, 0]
    energy = gamma * (four[:, 0] + along)
    return np.concatenate([energy[:, None], four[:, 1:] + factor[:, None] * velocity], axis=1)


def _wrap(angle: Floats) -> Floats:
    import numpy as np  # noqa: PLC0415

    wrapped: Floats = (angle + np.pi) % (2 * np.pi) - np.pi
    return wrapped


def write_events(path: Path, columns: dict[str, Any], collection: Collection, *, jets: bool) -> None:
    """Write generated pairs as the TTree ``events`` of :data:`madagents_tools.io.final_state.BRANCHES`.

    ``columns`` holds ``pt``, ``eta``, ``phi``, ``mass`` (N, 2), ``charge`` (N, 2) and ``weight`` (N,). The other
    collections are written empty; ``mhat``, ``met_pt`` and ``met_phi`` are NaN (not modelled); ``iso`` is 0.
    """
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import uproot  # noqa: PLC0415

    n_events = len(columns["weight"])
    per_event = np.full(n_events, 2, dtype=np.int64)
    flat: dict[str, Any] = {
        name: np.asarray(columns[name], dtype=np.float64).ravel() for name in ("pt", "eta", "phi", "mass")
    }
    flat |= {"charge": np.asarray(columns["charge"], dtype=np.int32).ravel(), "iso": np.zeros(2 * n_events)}
    records = {collection: ak.zip({key: ak.unflatten(value, per_event) for key, value in flat.items()})}
    none = np.zeros(n_events, dtype=np.int64)
    empty_leptons = {key: ak.unflatten(np.zeros(0, dtype=value.dtype), none) for key, value in flat.items()}
    empty_jets = {key: ak.unflatten(np.zeros(0, dtype=np.float64), none) for key in ("pt", "eta", "phi", "mass")}
    empty_jets["btag"] = ak.unflatten(np.zeros(0, dtype=np.int32), none)
    nan = np.full(n_events, np.nan)
    branches: dict[str, Any] = {
        "event_number": np.arange(n_events, dtype=np.int64),
        "weight": np.asarray(columns["weight"], dtype=np.float64),
        "mhat": nan,
        "muon": records.get("muon", ak.zip(empty_leptons)),
        "electron": records.get("electron", ak.zip(empty_leptons)),
        "jet": ak.zip(empty_jets),
        "met_pt": nan,
        "met_phi": nan,
    }
    if not jets:
        del branches["jet"]
    with uproot.recreate(path) as file:
        file.mktree("events", {name: BRANCHES[name] for name in branches}).extend(branches)
