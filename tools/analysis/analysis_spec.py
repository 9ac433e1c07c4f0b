"""The analysis language of workflows: object selections, cuts, observables and histogram specifications.

Shared by the host (which validates a workflow before anything runs) and the analysis tool.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator

from madagents_tools.contract import StrictModel

__all__ = [
    "OBSERVABLE_FUNCTIONS",
    "AnalysisSpec",
    "CountCut",
    "Cut",
    "HistogramSpec",
    "ObjectRef",
    "ObjectSelection",
    "Observable",
    "OppositeChargeCut",
    "RangeCut",
    "parse_observable",
]

Collection = Literal["muon", "electron", "jet"]
"""Object collections stored in the events TTree (branches ``<collection>_pt`` and so on)."""

OBSERVABLE_FUNCTIONS: dict[str, str] = {
    "mass": "GeV",
    "pt": "GeV",
    "eta": "",
    "phi": "",
    "rapidity": "",
    "count": "",
    "met": "GeV",
    "pair_mass": "GeV",
}
"""Observable function -> unit. mass/pt take one or more objects (of their four-momentum sum).

``pair_mass(a, b)`` reconstructs a pair-produced resonance decaying to one ``a`` and one ``b`` each: the two
leading ``a`` are paired with the two leading ``b`` in the way that makes the two pair masses closest, and the
value is their mean (the pairing of leptoquark searches, e.g. CMS arXiv:1811.01197).
"""

_CALL = re.compile(r"^\s*(?P<func>[a-z_]+)\s*\((?P<args>[^()]*)\)\s*$")
_OBJECT = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*\[\s*(?P<index>\d+)\s*\]\s*$")
_NAME = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*$")

OBSERVABLE_HELP = (
    "write one of: mass(a[0], b[1], ...), pt(a[0], ...), eta(a[0]), phi(a[0]), rapidity(a[0]), count(a), met(), "
    "pair_mass(a, b), "
    "where a, b are object names defined under analysis.objects and [i] picks the i-th hardest object"
)


class ObjectRef(BaseModel):
    name: str
    index: int


class Observable(BaseModel):
    """A parsed observable expression such as ``mass(muons[0], muons[1])``."""

    function: str
    objects: list[ObjectRef] = Field(default_factory=list, description="For mass/pt/eta/phi/rapidity.")
    collection: str | None = Field(default=None, description="For count().")
    pair: tuple[str, str] | None = Field(default=None, description="For pair_mass().")

    @property
    def unit(self) -> str:
        return OBSERVABLE_FUNCTIONS[self.function]

    def names(self) -> set[str]:
        found = {ref.name for ref in self.objects}
        return found | ({self.collection} if self.collection else set()) | set(self.pair or ())


def parse_observable(text: str) -> Observable:
    """Parse an observable expression; raises ``ValueError`` with the accepted forms on bad input."""
    call = _CALL.match(text)
    if call is None or call["func"] not in OBSERVABLE_FUNCTIONS:
        msg = f"cannot read observable {text!r}; {OBSERVABLE_HELP}"
        raise ValueError(msg)
    function = call["func"]
    args = [arg for arg in call["args"].split(",") if arg.strip()]
    if function == "met":
        if args:
            msg = f"met() takes no arguments, got {text!r}"
            raise ValueError(msg)
        return Observable(function=function)
    if function == "count":
        name = _NAME.match(args[0]) if len(args) == 1 else None
        if name is None:
            msg = f"count() takes one object name, e.g. count(jets); got {text!r}"
            raise ValueError(msg)
        return Observable(function=function, collection=name["name"])
    if function == "pair_mass":
        names = [_NAME.match(arg) for arg in args]
        if len(names) != 2 or any(name is None for name in names):  # noqa: PLR2004 - a pair
            msg = f"pair_mass() takes two object names, e.g. pair_mass(electrons, jets); got {text!r}"
            raise ValueError(msg)
        first, second = (name["name"] for name in names if name is not None)
        return Observable(function=function, pair=(first, second))
    refs = [_OBJECT.match(arg) for arg in args]
    if not refs or any(ref is None for ref in refs):
        msg = f"{function}() takes indexed objects such as muons[0]; got {text!r}; {OBSERVABLE_HELP}"
        raise ValueError(msg)
    if function in {"eta", "phi", "rapidity"} and len(refs) != 1:
        msg = f"{function}() takes exactly one object, e.g. {function}(muons[0]); got {text!r}"
        raise ValueError(msg)
    objects = [ObjectRef(name=ref["name"], index=int(ref["index"])) for ref in refs if ref is not None]
    return Observable(function=function, objects=objects)


class ObjectSelection(StrictModel):
    """Objects of one collection passing kinematic and isolation requirements, ordered by decreasing pT."""

    collection: Collection
    pt_min_gev: float = Field(default=0.0, ge=0.0)
    abs_eta_max: float | None = Field(default=None, gt=0.0)
    isolation_max: float | None = Field(
        default=None, gt=0.0, description="Maximum relative isolation (leptons only), e.g. 0.15."
    )
    btag: bool | None = Field(default=None, description="Jets only: True keeps b-tagged, False keeps untagged.")

    @model_validator(mode="after")
    def _options_fit_collection(self) -> ObjectSelection:
        if self.isolation_max is not None and self.collection == "jet":
            msg = "isolation_max applies to muons and electrons, not jets; remove it"
            raise ValueError(msg)
        if self.btag is not None and self.collection != "jet":
            msg = f"btag applies to jets only, not {self.collection}; remove it"
            raise ValueError(msg)
        return self


class CountCut(StrictModel):
    """Keep events with ``min <= number of objects <= max``."""

    count: str = Field(description="Object name from analysis.objects.")
    min: int = Field(default=0, ge=0)
    max: int | None = Field(default=None, ge=0)


class OppositeChargeCut(StrictModel):
    """Keep events whose two leading objects (of one or two object names) have opposite electric charge."""

    opposite_charge: list[str] = Field(
        min_length=1, max_length=2, description="[muons] for the two leading muons, [electrons, muons] for e and mu."
    )


class RangeCut(StrictModel):
    """Keep events with ``min <= observable < max``."""

    observable: str
    min: float | None = None
    max: float | None = None


def _cut_kind(value: object) -> str | None:
    """Which cut a mapping describes, from its defining key, so errors name that cut's fields only."""
    if isinstance(value, BaseModel):
        return type(value).__name__
    keys = set(value) if isinstance(value, dict) else set()
    for key, kind in (("count", "CountCut"), ("opposite_charge", "OppositeChargeCut"), ("observable", "RangeCut")):
        if key in keys:
            return kind
    return None


Cut = Annotated[
    Annotated[CountCut, Tag("CountCut")]
    | Annotated[OppositeChargeCut, Tag("OppositeChargeCut")]
    | Annotated[RangeCut, Tag("RangeCut")],
    Discriminator(
        _cut_kind,
        custom_error_type="unknown_cut",
        custom_error_message="a cut needs one of the keys count, opposite_charge or observable",
    ),
]


class HistogramSpec(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z_]\w*$", description="File stem of the histogram (hists/<name>.json).")
    observable: str = Field(examples=["mass(muons[0], muons[1])"])
    bins: int = Field(gt=0, le=10_000)
    range: tuple[float, float] = Field(description="[low, high] edges in the observable's unit.")
    label: str = Field(description="Axis label without unit, LaTeX allowed, e.g. '$m_{\\mu\\mu}$'.")

    @model_validator(mode="after")
    def _check(self) -> HistogramSpec:
        parse_observable(self.observable)
        low, high = self.range
        if not low < high:
            msg = f"histogram {self.name}: range must be [low, high] with low < high, got {list(self.range)}"
            raise ValueError(msg)
        return self


class AnalysisSpec(StrictModel):
    objects: dict[str, ObjectSelection] = Field(description="Object name -> selection, e.g. muons.")
    cuts: list[Cut] = Field(default_factory=list, description="Applied in order; all must pass.")
    histograms: list[HistogramSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_exist(self) -> AnalysisSpec:
        used: set[str] = set()
        for cut in self.cuts:
            if isinstance(cut, CountCut):
                used.add(cut.count)
            elif isinstance(cut, OppositeChargeCut):
                used.update(cut.opposite_charge)
            else:
                used |= parse_observable(cut.observable).names()
        for spec in self.histograms:
            used |= parse_observable(spec.observable).names()
        unknown = sorted(used - set(self.objects))
        if unknown:
            msg = f"analysis refers to undefined objects {unknown}; define them under analysis.objects"
            raise ValueError(msg)
        names = [spec.name for spec in self.histograms]
        if len(set(names)) != len(names):
            msg = f"histogram names must be unique, got {names}"
            raise ValueError(msg)
        return self

    def collections(self) -> set[str]:
        return {selection.collection for selection in self.objects.values()}
