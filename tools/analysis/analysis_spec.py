"""The analysis language of workflows: object definitions, cuts, histograms and plot options.

Shared by the host (which validates a workflow before anything runs) and the analysis tool. Observables are
expressions (:mod:`madagents_tools.analysis.observables`); objects are selections of a stored collection, a
combination of selections (``combine: [electrons, muons]``) or Z candidates built from a lepton collection.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator

from madagents_tools.analysis.observables import (
    OBSERVABLE_HELP,
    RESERVED_NAMES,
    did_you_mean,
    parse_observable,
)
from madagents_tools.contract import StrictModel
from madagents_tools.io.final_state import JetDefinition

__all__ = [
    "OBSERVABLE_HELP",
    "Z_MASS_GEV",
    "AnalysisSpec",
    "CombinedObjects",
    "CountCut",
    "Cut",
    "HistogramSpec",
    "ObjectDefinition",
    "ObjectSelection",
    "OppositeChargeCut",
    "OverlapRemoval",
    "PlotOptions",
    "RangeCut",
    "ZCandidates",
    "cut_text",
    "parse_observable",
]

Collection = Literal["muon", "electron", "photon", "tau", "jet"]
"""Object collections stored in the events TTree (branches ``<collection>_pt`` and so on); ``tau`` holds the
visible decay products of hadronically decaying τ leptons (particle level only)."""
LEPTONS = ("muon", "electron")
CHARGED = (*LEPTONS, "tau")
Z_MASS_GEV = 91.1876
"""PDG 2024, m_Z = 91.1876 ± 0.0021 GeV."""


class OverlapRemoval(StrictModel):
    """Drop an object lying within ΔR < ``dr`` of any object of ``objects`` (after that one's own selection)."""

    objects: str = Field(description="Object name from analysis.objects, e.g. muons.")
    dr: float = Field(default=0.4, gt=0.0, le=5.0, description="ΔR = sqrt(Δη² + Δφ²) below which it is dropped.")


class ObjectSelection(StrictModel):
    """Objects of one stored collection passing kinematic, isolation and tagging requirements, hardest first."""

    collection: Collection
    pt_min_gev: float = Field(default=0.0, ge=0.0)
    abs_eta_max: float | None = Field(default=None, gt=0.0)
    isolation_max: float | None = Field(
        default=None, gt=0.0, description="Maximum relative isolation (leptons and photons), e.g. 0.15."
    )
    btag: bool | None = Field(default=None, description="Jets only: True keeps b-tagged, False keeps untagged.")
    ctag: bool | None = Field(default=None, description="Jets only: True keeps c-tagged, False keeps untagged.")
    overlap_removal: list[OverlapRemoval] = Field(
        default_factory=list, description="Drop objects near others, e.g. [{objects: muons, dr: 0.4}] for jets."
    )

    @model_validator(mode="after")
    def _options_fit_collection(self) -> ObjectSelection:
        if self.isolation_max is not None and self.collection in ("jet", "tau"):
            msg = f"isolation_max applies to muons, electrons and photons, not {self.collection}s; remove it"
            raise ValueError(msg)
        for tag in ("btag", "ctag"):
            if getattr(self, tag) is not None and self.collection != "jet":
                msg = f"{tag} applies to jets only, not {self.collection}; remove it"
                raise ValueError(msg)
        return self

    def sources(self) -> list[str]:
        return [removal.objects for removal in self.overlap_removal]


class CombinedObjects(StrictModel):
    """The objects of several lepton selections in one collection, hardest first (e.g. leptons = e and μ)."""

    combine: list[str] = Field(min_length=2, description="Object names of lepton selections, e.g. [electrons, muons].")

    def sources(self) -> list[str]:
        return list(self.combine)


class ZCandidates(StrictModel):
    """Same-flavour opposite-sign lepton pairs, chosen closest to m_Z.

    ``zs[0]`` is the SFOS pair of the collection whose mass is closest to ``mass_gev``; ``zs[1]`` the closest among
    pairs of the remaining leptons, and so on up to ``max_candidates``. Each candidate is the pair's four-momentum
    sum (``mass(zs[0])`` is m_Z1, ``mass(zs[0], zs[1])`` the four-lepton mass).
    """

    z_candidates: str = Field(description="Object name of a lepton selection or combination, e.g. leptons.")
    mass_gev: float = Field(default=Z_MASS_GEV, gt=0.0, description="Target mass; default PDG m_Z.")
    max_candidates: int = Field(default=2, ge=1, le=4)

    def sources(self) -> list[str]:
        return [self.z_candidates]


def _kind_by_key(kinds: dict[str, str]) -> Callable[[object], str | None]:
    """A discriminator: the model a mapping describes, from its defining key, so errors name its fields only."""

    def kind(value: object) -> str | None:
        if isinstance(value, BaseModel):
            return type(value).__name__
        keys = set(value) if isinstance(value, dict) else set()
        return next((kinds[key] for key in kinds if key in keys), None)

    return kind


_definition_kind = _kind_by_key(
    {"collection": "ObjectSelection", "combine": "CombinedObjects", "z_candidates": "ZCandidates"}
)


ObjectDefinition = Annotated[
    Annotated[ObjectSelection, Tag("ObjectSelection")]
    | Annotated[CombinedObjects, Tag("CombinedObjects")]
    | Annotated[ZCandidates, Tag("ZCandidates")],
    Discriminator(
        _definition_kind,
        custom_error_type="unknown_objects",
        custom_error_message="an object definition needs one of the keys collection, combine or z_candidates",
    ),
]


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

    @model_validator(mode="after")
    def _check(self) -> RangeCut:
        parse_observable(self.observable)
        return self


_cut_kind = _kind_by_key({"count": "CountCut", "opposite_charge": "OppositeChargeCut", "observable": "RangeCut"})


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


def cut_text(cut: CountCut | OppositeChargeCut | RangeCut) -> str:
    """A cut as the cut-flow table names it."""
    if isinstance(cut, CountCut):
        if cut.max == cut.min:
            return f"count({cut.count}) = {cut.min}"
        upper = f" ≤ {cut.max}" if cut.max is not None else ""
        return f"{cut.min} ≤ count({cut.count}){upper}" if upper else f"count({cut.count}) ≥ {cut.min}"
    if isinstance(cut, OppositeChargeCut):
        names = cut.opposite_charge
        pair = f"{names[0]}[0], {names[0]}[1]" if len(names) == 1 else f"{names[0]}[0], {names[1]}[0]"
        return f"opposite charge ({pair})"
    low = f"{cut.min:g} ≤ " if cut.min is not None else ""
    high = f" < {cut.max:g}" if cut.max is not None else ""
    return f"{low}{cut.observable}{high}"


class HistogramSpec(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z_]\w*$", description="File stem of the histogram (hists/<name>.json).")
    observable: str = Field(examples=["mass(muons[0], muons[1])", "mt(electrons[0])", "ht(jets) + met()"])
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


class PlotOptions(StrictModel):
    """How plots are normalised and drawn; the histogram JSON files always hold the generated events' weights."""

    normalisation: Literal["events", "cross_section", "luminosity"] = Field(
        default="events",
        description="events: generated events per bin; cross_section: dσ/dx in pb per unit of x; "
        "luminosity: expected events σ·L per bin (needs luminosity_fb).",
    )
    luminosity_fb: float | None = Field(default=None, gt=0.0, description="Integrated luminosity in fb⁻¹, e.g. 140.")
    log_y: bool | None = Field(
        default=None, description="Logarithmic y axis; unset: log when the filled bins span 3 decades or more."
    )
    # the next three draw a workflow's several samples (workflow samples); unset, they stay out of dumps
    style: Literal["stack", "overlay"] | None = Field(
        default=None,
        description="With several samples: stack (backgrounds stacked by σ, signals drawn over them as lines; "
        "needs normalisation luminosity or cross_section) or overlay (every sample a line; with normalisation "
        "events each is scaled to unit area, to compare shapes). Default with samples: stack.",
        exclude_if=lambda value: value is None,
    )
    ratio: Literal["total_over_background", "over_reference"] | None = Field(
        default=None,
        description="With several samples, a ratio panel: total_over_background, (signal + background) / background "
        "per bin; over_reference, each other sample over ratio_reference.",
        exclude_if=lambda value: value is None,
    )
    ratio_reference: str | None = Field(
        default=None,
        description="The sample the over_reference ratio divides by (default: the first background).",
        exclude_if=lambda value: value is None,
    )

    @model_validator(mode="after")
    def _luminosity_given(self) -> PlotOptions:
        if self.normalisation == "luminosity" and self.luminosity_fb is None:
            msg = "plots.normalisation luminosity needs plots.luminosity_fb, e.g. luminosity_fb: 140"
            raise ValueError(msg)
        if self.ratio_reference is not None and self.ratio != "over_reference":
            msg = "plots.ratio_reference names the sample of ratio: over_reference; set that ratio or remove it"
            raise ValueError(msg)
        return self


class AnalysisSpec(StrictModel):
    objects: dict[str, ObjectDefinition] = Field(description="Object name -> definition, e.g. muons.")
    cuts: list[Cut] = Field(default_factory=list, description="Applied in order; all must pass.")
    histograms: list[HistogramSpec] = Field(min_length=1)
    plots: PlotOptions = Field(default_factory=PlotOptions, description="Normalisation and style of the plots.")
    jets: JetDefinition = Field(
        default_factory=JetDefinition,
        description="How particle-level jets are clustered and flavour-tagged (a detector simulation has its own).",
    )

    @model_validator(mode="after")
    def _references_exist(self) -> AnalysisSpec:
        reserved = sorted(RESERVED_NAMES & set(self.objects))
        if reserved:
            msg = f"analysis.objects cannot be called {reserved}: the name is part of the observable language"
            raise ValueError(msg)
        for where, names in self._references():
            for name in names:
                if name not in self.objects:
                    msg = (
                        f"{where} refers to undefined objects {name!r}{did_you_mean(name, set(self.objects))}; "
                        f"define it under analysis.objects (defined: {sorted(self.objects)})"
                    )
                    raise ValueError(msg)
        self._check_kinds()
        self.evaluation_order()
        names = [spec.name for spec in self.histograms]
        if len(set(names)) != len(names):
            msg = f"histogram names must be unique, got {names}"
            raise ValueError(msg)
        return self

    def _references(self) -> list[tuple[str, list[str]]]:
        found = [(f"analysis.objects.{name}", definition.sources()) for name, definition in self.objects.items()]
        for cut in self.cuts:
            if isinstance(cut, CountCut):
                found.append(("a count cut", [cut.count]))
            elif isinstance(cut, OppositeChargeCut):
                found.append(("an opposite_charge cut", cut.opposite_charge))
            else:
                found.append((f"cut on {cut.observable}", sorted(parse_observable(cut.observable).names)))
        found += [
            (f"histogram {spec.name}", sorted(parse_observable(spec.observable).names)) for spec in self.histograms
        ]
        return found

    def _check_kinds(self) -> None:
        """Combinations and Z candidates are built from leptons; opposite_charge needs charged objects."""
        for name, definition in self.objects.items():
            inputs = definition.sources() if not isinstance(definition, ObjectSelection) else []
            for source in inputs:
                if not self.is_lepton(source):
                    msg = f"analysis.objects.{name} combines {source!r}, which are not leptons (muon, electron)"
                    raise ValueError(msg)
        for cut in self.cuts:
            if isinstance(cut, OppositeChargeCut):
                for source in cut.opposite_charge:
                    if not self.is_charged(source):
                        msg = f"opposite_charge needs leptons or taus, but {source!r} are neither and carry no charge"
                        raise ValueError(msg)

    def is_charged(self, name: str) -> bool:
        definition = self.objects[name]
        if isinstance(definition, ObjectSelection):
            return definition.collection in CHARGED
        return isinstance(definition, CombinedObjects)

    def is_lepton(self, name: str) -> bool:
        definition = self.objects[name]
        if isinstance(definition, ObjectSelection):
            return definition.collection in LEPTONS
        return isinstance(definition, CombinedObjects)

    def evaluation_order(self) -> list[str]:
        """Object names in an order where each comes after those it is built from; a cycle is an error."""
        sorter = graphlib.TopologicalSorter({name: definition.sources() for name, definition in self.objects.items()})
        try:
            return list(sorter.static_order())
        except graphlib.CycleError as exc:
            msg = f"analysis.objects refer to each other in a circle: {' -> '.join(exc.args[1])}; break the cycle"
            raise ValueError(msg) from None

    def collections(self) -> set[str]:
        return {
            definition.collection for definition in self.objects.values() if isinstance(definition, ObjectSelection)
        }
