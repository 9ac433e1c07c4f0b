"""Objects of an analysis built from the events, and observables evaluated on them (awkward + vector).

Every object collection is a jagged array of Momentum4D records; selections and combinations are ordered by
decreasing pT, Z candidates in the order they were chosen (closest to m_Z first).
"""

from __future__ import annotations

import functools
import operator
import sys
from typing import TYPE_CHECKING, Any, TypeAlias

from madagents_tools.analysis.analysis_spec import (
    AnalysisSpec,
    CombinedObjects,
    ObjectSelection,
    ZCandidates,
)
from madagents_tools.analysis.observables import BinaryOp, Call, CollectionArg, MetArg, Number, ObjectArg, UnaryOp

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]

__all__ = ["LEPTON_FLAVOUR", "build_objects", "evaluate", "import_vector", "pair_mass"]

LEPTON_FLAVOUR = {"muon": 13, "electron": 11}
"""|PDG id| stored as each lepton's ``flavour``, so combinations and Z candidates know same flavour."""


def build_objects(events: Any, analysis: AnalysisSpec) -> dict[str, Any]:
    """Every object definition of ``analysis``, each built after those it refers to."""
    objects: dict[str, Any] = {}
    for name in analysis.evaluation_order():
        definition = analysis.objects[name]
        if isinstance(definition, ObjectSelection):
            objects[name] = _select(events, definition, objects)
        elif isinstance(definition, CombinedObjects):
            objects[name] = _combine([objects[source] for source in definition.combine])
        else:
            objects[name] = z_candidates(objects[definition.z_candidates], definition)
    return objects


def _hardest_first(objects: Any) -> Any:
    import awkward as ak  # noqa: PLC0415

    # the generator already sorts by pT; sorting again keeps "[i] is the i-th hardest" true for any input file
    return objects[ak.argsort(objects.pt, axis=1, ascending=False, stable=True)]


def _select(events: Any, selection: ObjectSelection, built: dict[str, Any]) -> Any:
    """Objects passing ``selection`` as Momentum4D records (with charge, iso, tags when read), hardest first."""
    import awkward as ak  # noqa: PLC0415

    prefix = f"{selection.collection}_"
    fields = {field.removeprefix(prefix): events[field] for field in events.fields if field.startswith(prefix)}
    if selection.collection in LEPTON_FLAVOUR:
        fields["flavour"] = ak.full_like(fields["pt"], LEPTON_FLAVOUR[selection.collection], dtype="int32")
    objects = ak.zip(fields, with_name="Momentum4D")
    keep = objects.pt > selection.pt_min_gev
    if selection.abs_eta_max is not None:
        keep = keep & (abs(objects.eta) < selection.abs_eta_max)
    if selection.isolation_max is not None:
        keep = keep & (objects.iso < selection.isolation_max)
    for tag in ("btag", "ctag"):
        wanted = getattr(selection, tag)
        if wanted is not None:
            keep = keep & ((objects[tag] != 0) == wanted)
    chosen = objects[keep]
    for removal in selection.overlap_removal:
        chosen = _remove_overlap(chosen, built[removal.objects], removal.dr)
    return _hardest_first(chosen)


def _remove_overlap(objects: Any, others: Any, dr: float) -> Any:
    """``objects`` without those within ΔR < ``dr`` of any of ``others``."""
    import awkward as ak  # noqa: PLC0415

    pairs = ak.cartesian([objects, others], axis=1, nested=True)
    near = ak.any(pairs["0"].deltaR(pairs["1"]) < dr, axis=2)
    return objects[~near]


def _combine(parts: list[Any]) -> Any:
    """One collection of the kinematics, charge and flavour of several lepton collections, hardest first."""
    import awkward as ak  # noqa: PLC0415

    common = ("pt", "eta", "phi", "mass", "charge", "flavour")
    projected = [ak.zip({field: part[field] for field in common}, with_name="Momentum4D") for part in parts]
    return _hardest_first(ak.concatenate(projected, axis=1))


def z_candidates(leptons: Any, spec: ZCandidates) -> Any:
    """Same-flavour opposite-sign pairs chosen closest to ``spec.mass_gev``, each lepton used at most once.

    The first candidate is the SFOS pair of the event whose mass is closest to the target; the next is the closest
    among pairs sharing no lepton with those already chosen, up to ``spec.max_candidates``. Each candidate is the
    pair's four-momentum sum, with charge 0.
    """
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    index = ak.argcombinations(leptons, 2, axis=1)
    first, second = leptons[index["0"]], leptons[index["1"]]
    available = (first.flavour == second.flavour) & (first.charge * second.charge < 0)
    pair = first + second
    distance = abs(pair.mass - spec.mass_gev)
    chosen = []
    for _ in range(spec.max_candidates):
        best = ak.argmin(ak.where(available, distance, np.inf), axis=1, keepdims=True)
        found = ak.fill_none(available[best], False)  # a list of one flag per event
        candidate = pair[best][found]  # a list of one candidate, or of none
        chosen.append(ak.zip({field: getattr(candidate, field) for field in ("pt", "eta", "phi", "mass")}))
        used = [ak.fill_none(ak.firsts(index[slot][best], axis=1), -1) for slot in ("0", "1")]
        for lepton in used:
            available = available & (index["0"] != lepton) & (index["1"] != lepton)
    candidates = ak.concatenate(chosen, axis=1)
    return ak.zip(
        {**{field: candidates[field] for field in candidates.fields}, "charge": ak.zeros_like(candidates.pt)},
        with_name="Momentum4D",
    )


def pair_mass(first: Any, second: Any) -> Any:
    """Mean mass of the (first, second) pairs of a pair-produced resonance, per event.

    The two leading objects a0, a1 of ``first`` and b0, b1 of ``second`` are paired either (a0 b0)(a1 b1) or
    (a0 b1)(a1 b0), whichever gives the smaller |m1 - m2| (a tie keeps the first); the value is (m1 + m2) / 2. This
    is the pairing of leptoquark searches (e.g. CMS arXiv:1811.01197). None where an event has fewer than two of
    either.
    """
    import awkward as ak  # noqa: PLC0415

    a0, a1, b0, b1 = (ak.pad_none(objects, 2, axis=1)[:, i] for objects in (first, second) for i in (0, 1))
    (s0, s1), (c0, c1) = ((a0 + b0).mass, (a1 + b1).mass), ((a0 + b1).mass, (a1 + b0).mass)
    return ak.where(abs(s0 - s1) <= abs(c0 - c1), (s0 + s1) / 2, (c0 + c1) / 2)


def evaluate(tree: Call | Number | UnaryOp | BinaryOp, objects: dict[str, Any], events: Any) -> Floats:
    """One value per event; NaN where the event lacks a referenced object (the observable is undefined)."""
    import numpy as np  # noqa: PLC0415

    if isinstance(tree, Number):
        return np.full(len(events), tree.value)
    if isinstance(tree, UnaryOp):
        operand = evaluate(tree.operand, objects, events)
        unary = {"-": np.negative, "abs": np.abs, "sqrt": np.sqrt}[tree.op]
        with np.errstate(invalid="ignore"):
            return np.asarray(unary(operand), dtype=np.float64)
    if isinstance(tree, BinaryOp):
        left, right = evaluate(tree.left, objects, events), evaluate(tree.right, objects, events)
        binary = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[tree.op]
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.asarray(binary(left, right), dtype=np.float64)
        value[~np.isfinite(value)] = np.nan  # x/0 is undefined, not a histogram entry
        return value
    return _call(tree, objects, events)


def _call(call: Call, objects: dict[str, Any], events: Any) -> Floats:
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    function, args = call.function, call.args
    if function == "met":
        value = events["met_pt"]
    elif function == "count":
        value = ak.num(objects[_name(args[0])], axis=1)
    elif function == "pair_mass":
        value = pair_mass(objects[_name(args[0])], objects[_name(args[1])])
    elif function in ("ht", "st", "meff"):
        value = sum((_scalar_pt(arg, objects) for arg in args), start=events["met_pt"] if function == "meff" else 0.0)
    elif function == "dphi" and isinstance(args[1], MetArg):
        value = abs(_picked(args[0], objects).deltaphi(_met_vector(events)))
    else:
        picked = [_picked(arg, objects) for arg in args]
        value = _kinematic(function, picked, events)
    return np.asarray(ak.fill_none(value, np.nan), dtype=np.float64)


def _kinematic(function: str, picked: list[Any], events: Any) -> Any:
    if function == "dr":
        return picked[0].deltaR(picked[1])
    if function == "dphi":
        return abs(picked[0].deltaphi(picked[1]))
    if function == "deta":
        return abs(picked[0].eta - picked[1].eta)
    total = functools.reduce(operator.add, picked)
    if function == "mt":
        import numpy as np  # noqa: PLC0415

        met = _met_vector(events)
        return np.sqrt(np.maximum(2 * total.pt * met.pt * (1 - np.cos(total.deltaphi(met))), 0.0))
    return getattr(total, function)


def _name(arg: ObjectArg | CollectionArg | MetArg) -> str:
    assert isinstance(arg, CollectionArg)
    return arg.name


def _picked(arg: ObjectArg | CollectionArg | MetArg, objects: dict[str, Any]) -> Any:
    """The object ``name[index]`` of each event, None where there are fewer."""
    import awkward as ak  # noqa: PLC0415

    assert isinstance(arg, ObjectArg)
    return ak.pad_none(objects[arg.name], arg.index + 1, axis=1)[:, arg.index]


def _scalar_pt(arg: ObjectArg | CollectionArg | MetArg, objects: dict[str, Any]) -> Any:
    """pT of one object (None where absent) or the pT sum of a whole collection (0 when empty)."""
    import awkward as ak  # noqa: PLC0415

    if isinstance(arg, CollectionArg):
        return ak.sum(objects[arg.name].pt, axis=1)
    return _picked(arg, objects).pt


def _met_vector(events: Any) -> Any:
    import awkward as ak  # noqa: PLC0415

    return ak.zip({"pt": events["met_pt"], "phi": events["met_phi"]}, with_name="Momentum2D")


def import_vector() -> Any:
    """vector, imported without the sympy backend it loads when sympy is installed (0.4 s, for a backend the analysis
    never uses); sympy itself stays importable for whatever else runs in the process (torch, in a warm interpreter)."""
    blocked = "sympy" not in sys.modules
    if blocked:
        sys.modules["sympy"] = None  # type: ignore[assignment]
    try:
        import vector  # noqa: PLC0415
    finally:
        if blocked:
            del sys.modules["sympy"]
    return vector
