"""Select objects and events from the ROOT TTree of final-state objects, fill and plot histograms.

Histograms are written as JSON in the UHI serialisation (readable back into ``hist.Hist``) and as PNG (mplhep),
the PNG carrying its legend and binning as text metadata so a reviewer can check the plot against the data.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, Field

from madagents_tools.analysis.analysis_spec import (
    AnalysisSpec,
    CountCut,
    ObjectSelection,
    OppositeChargeCut,
    RangeCut,
    cut_text,
    parse_observable,
)
from madagents_tools.analysis.objects import build_objects, evaluate, import_vector
from madagents_tools.analysis.plotting import HistogramRecord, Normalisation, write_histogram
from madagents_tools.contract import (
    OutputDir,
    RunPath,
    ToolRequest,
    ToolResult,
    exit_without_teardown,
    package_versions,
    record_file,
    tool_main,
)
from madagents_tools.io.event_io import EventFileError, iterate_events

if TYPE_CHECKING:
    import hist
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]
    Flags: TypeAlias = npt.NDArray[np.bool_]
    WeightHist: TypeAlias = hist.Hist[hist.storage.Weight]

__all__ = ["CutflowRow", "HistogramRecord", "Request", "Result", "main", "run", "sigma_text"]


class Request(ToolRequest):
    tool: Literal["analyze"] = "analyze"
    events_path: RunPath = Field(
        default="events/events.root",
        description="ROOT file with the particle-level TTree 'events' or a detector-level TTree 'Delphes'.",
    )
    generation_result_path: RunPath = Field(description="Result JSON of the generation step (σ, events generated).")
    analysis: AnalysisSpec
    out_dir: OutputDir = Field(default="hists")
    process_label: str = Field(description="Shown in plot legends, e.g. 'Pythia8 pp → Z/γ* → μμ, 13 TeV'.")
    max_events: int | None = Field(default=None, gt=0, description="Analyse only the first N events.")
    sqrt_s_gev: float | None = Field(default=None, gt=0, description="Centre-of-mass energy, for the plots' label.")


class CutflowRow(BaseModel):
    """Events left after a cut and the cross section they stand for."""

    cut: str = Field(description="The cut as written, e.g. 'count(muons) = 2'; the first row is 'all events'.")
    events: int = Field(description="Events passing this and every earlier cut.")
    weight_sum: float = Field(description="Sum of their weights.")
    sigma_pb: float = Field(description="σ × (their weight sum) / (weight sum of all events read).")


class Result(ToolResult):
    n_events: int = Field(default=0, description="Events read from the TTree.")
    n_selected: int = Field(default=0, description="Events passing all cuts.")
    n_generated: int = Field(default=0, description="Events generated (from the generation result).")
    sigma_pb: float | None = None
    sigma_err_pb: float | None = None
    fiducial_sigma_pb: float | None = Field(default=None, description="σ × n_selected / n_generated.")
    fiducial_sigma_err_pb: float | None = None
    histograms: list[HistogramRecord] = Field(default_factory=list)
    cutflow: list[CutflowRow] = Field(default_factory=list, description="Events and σ after each cut, in order.")


KINEMATICS = ("pt", "eta", "phi", "mass")
VERSIONED_PACKAGES = ("uproot", "awkward", "hist", "uhi", "vector", "mplhep", "matplotlib", "numpy")


class _InputError(Exception):
    """A problem with the inputs that the caller can fix; ``run`` reports it as ``Result(ok=False)``."""


class _Generation(BaseModel):
    """The fields the analysis needs from any generation result; the others are ignored."""

    ok: bool
    error: str | None = None
    n_events: int = 0
    sigma_pb: float | None = None
    sigma_err_pb: float | None = None


def run(request: Request) -> Result:
    versions = package_versions(*VERSIONED_PACKAGES)
    try:
        return _analyse(request, versions)
    except _InputError as exc:
        return Result(ok=False, error=str(exc), versions=versions)


def _analyse(request: Request, versions: dict[str, str]) -> Result:
    import numpy as np  # noqa: PLC0415 - heavy imports stay out of the request/result models

    import_vector().register_awkward()
    sigma, sigma_err, n_generated = _read_generation(Path(request.generation_result_path))
    analysis = request.analysis
    tally = _Tally(analysis)
    for events in _iterate_events(request):
        tally.add(events)
    n_read, n_selected = tally.rows[0].events, tally.rows[-1].events
    efficiency, efficiency_err = tally.efficiency()
    warnings = _count_warnings(request, n_read, n_generated)
    legend = _legend(
        request.process_label, sigma, sigma_err, n_selected=n_selected, n_read=n_read, n_generated=n_generated
    )
    normalisation = Normalisation(
        options=analysis.plots, sigma_pb=sigma, weight_sum=tally.rows[0].weight_sum, sqrt_s_gev=request.sqrt_s_gev
    )
    records = []
    for spec in analysis.histograms:
        values, weights = (np.concatenate(parts) for parts in zip(*tally.filled[spec.name], strict=True))
        if n_selected > len(values):
            warnings.append(
                f"{spec.name}: {n_selected - len(values)} of {n_selected} selected events lack the objects of "
                f"{spec.observable} and are not in the histogram"
            )
        records.append(write_histogram(spec, values, weights, legend, Path(request.out_dir), normalisation))
    total = tally.rows[0].weight_sum
    cutflow = [
        row.model_copy(update={"sigma_pb": sigma * row.weight_sum / total if total > 0 else 0.0}) for row in tally.rows
    ]
    return Result(
        ok=True,
        n_events=n_read,
        n_selected=n_selected,
        n_generated=n_generated,
        sigma_pb=sigma,
        sigma_err_pb=sigma_err,
        fiducial_sigma_pb=sigma * efficiency,
        fiducial_sigma_err_pb=math.hypot(efficiency * sigma_err, sigma * efficiency_err),
        histograms=records,
        cutflow=cutflow,
        files=[
            file
            for record in records
            for file in (
                record_file(record.json_path, "hist-json"),
                record_file(record.png_path, "png"),
                *([record_file(record.values_path, "hist-values")] if record.values_path else []),
            )
        ],
        versions=versions,
        warnings=warnings,
    )


class _Tally:
    """The analysis of a sample batch by batch: cut flow and weight sums, and the selected events' observables.

    Only what the histograms hold is kept (a value and a weight per selected event), never the events themselves.
    """

    def __init__(self, analysis: AnalysisSpec) -> None:
        self.analysis = analysis
        self.rows = [CutflowRow(cut=text, events=0, weight_sum=0.0, sigma_pb=0.0) for text in _cut_texts(analysis)]
        self.failed_sum = 0.0  # summed directly, not as the total less the passed: as the one-array analysis did
        self.passed_squares = self.failed_squares = 0.0
        self.filled: dict[str, list[tuple[Floats, Floats]]] = {spec.name: [] for spec in analysis.histograms}

    def add(self, events: Any) -> None:
        import numpy as np  # noqa: PLC0415

        analysis = self.analysis
        objects = build_objects(events, analysis)
        values = {text: evaluate(parse_observable(text).tree, objects, events) for text in _observable_texts(analysis)}
        weights = np.asarray(events["weight"], dtype=np.float64)
        passed = np.ones(len(weights), dtype=np.bool_)
        masks = [passed.copy()]
        for cut in analysis.cuts:
            passed &= _passes(cut, objects, values)
            masks.append(passed.copy())
        self.rows = [
            row.model_copy(
                update={
                    "events": row.events + int(np.count_nonzero(mask)),
                    "weight_sum": row.weight_sum + float(weights[mask].sum()),
                }
            )
            for row, mask in zip(self.rows, masks, strict=True)
        ]
        self.failed_sum += float(weights[~passed].sum())
        self.passed_squares += float((weights[passed] ** 2).sum())
        self.failed_squares += float((weights[~passed] ** 2).sum())
        for spec in analysis.histograms:
            filled = passed & ~np.isnan(values[spec.observable])
            self.filled[spec.name].append((values[spec.observable][filled], weights[filled]))

    def efficiency(self) -> tuple[float, float]:
        """Weighted selection efficiency and its binomial error (ε(1-ε)/N for unit weights)."""
        pass_sum, fail_sum = self.rows[-1].weight_sum, self.failed_sum
        total = pass_sum + fail_sum
        if total <= 0:
            msg = f"the event weights sum to {total}; no selection efficiency can be formed"
            raise _InputError(msg)
        variance = (fail_sum**2 * self.passed_squares + pass_sum**2 * self.failed_squares) / total**4
        return pass_sum / total, math.sqrt(variance)


def _cut_texts(analysis: AnalysisSpec) -> list[str]:
    return ["all events", *(cut_text(cut) for cut in analysis.cuts)]


def _read_generation(path: Path) -> tuple[float, float, int]:
    """σ, its error and the number of generated events from the generation step's result."""
    try:
        generation = _Generation.model_validate_json(path.read_text())
    except FileNotFoundError:
        msg = f"generation result {path} does not exist; run the generation step first"
        raise _InputError(msg) from None
    except (OSError, ValueError) as exc:
        msg = f"generation result {path} cannot be read: {exc}"
        raise _InputError(msg) from None
    if not generation.ok:
        msg = f"the generation step failed ({generation.error or 'no reason given'}); there is nothing to analyse"
        raise _InputError(msg)
    if generation.sigma_pb is None or generation.sigma_err_pb is None or generation.n_events <= 0:
        msg = (
            f"generation result {path} lacks what the fiducial σ needs: sigma_pb={generation.sigma_pb}, "
            f"sigma_err_pb={generation.sigma_err_pb}, n_events={generation.n_events}"
        )
        raise _InputError(msg)
    return generation.sigma_pb, generation.sigma_err_pb, generation.n_events


def _observable_texts(analysis: AnalysisSpec) -> list[str]:
    """Every distinct observable of the range cuts and histograms, in order of first use."""
    texts = [cut.observable for cut in analysis.cuts if isinstance(cut, RangeCut)]
    return list(dict.fromkeys([*texts, *(spec.observable for spec in analysis.histograms)]))


def _needed_branches(analysis: AnalysisSpec) -> list[str]:
    calls = [call for text in _observable_texts(analysis) for call in parse_observable(text).calls()]
    wanted = {"weight"}
    if {call.function for call in calls} & {"met", "meff", "mt"} or any(
        arg.kind == "met" for call in calls for arg in call.args
    ):
        wanted |= {"met_pt", "met_phi"}
    charged = _charged(analysis)
    for name, selection in analysis.objects.items():
        if not isinstance(selection, ObjectSelection):
            continue
        optional = {
            "charge": name in charged,
            "iso": selection.isolation_max is not None,
            "btag": selection.btag is not None,
            "ctag": selection.ctag is not None,
        }
        fields = [*KINEMATICS, *(field for field, needed in optional.items() if needed)]
        wanted.update(f"{selection.collection}_{field}" for field in fields)
    return sorted(wanted)


def _charged(analysis: AnalysisSpec) -> set[str]:
    """Object names whose charge is read: opposite_charge cuts, and what combinations and Z candidates use."""
    charged = {name for cut in analysis.cuts if isinstance(cut, OppositeChargeCut) for name in cut.opposite_charge}
    charged |= {
        source
        for definition in analysis.objects.values()
        if not isinstance(definition, ObjectSelection)
        for source in definition.sources()
    }
    for name in reversed(analysis.evaluation_order()):  # users before their sources: closes over combinations
        if name in charged:
            charged |= set(analysis.objects[name].sources())
    return charged


def _iterate_events(request: Request) -> Iterator[Any]:
    """The needed branches, a batch of events at a time, from a particle- or detector-level file."""
    try:
        yield from iterate_events(
            request.events_path, _needed_branches(request.analysis), max_events=request.max_events
        )
    except EventFileError as exc:
        raise _InputError(str(exc)) from None


def _passes(cut: CountCut | OppositeChargeCut | RangeCut, objects: dict[str, Any], values: dict[str, Floats]) -> Flags:
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    if isinstance(cut, CountCut):
        count = np.asarray(ak.num(objects[cut.count], axis=1))
        return (count >= cut.min) & (count <= (np.inf if cut.max is None else cut.max))
    if isinstance(cut, OppositeChargeCut):
        names = cut.opposite_charge
        pair = [(names[0], 0), (names[0], 1)] if len(names) == 1 else [(names[0], 0), (names[1], 0)]
        # a missing object gets charge 0, so an event lacking one of the pair fails
        first, second = (
            np.asarray(ak.fill_none(ak.pad_none(objects[name].charge, index + 1, axis=1)[:, index], 0))
            for name, index in pair
        )
        return np.asarray(first * second < 0)
    value = values[cut.observable]
    low, high = -np.inf if cut.min is None else cut.min, np.inf if cut.max is None else cut.max
    return (value >= low) & (value < high)  # NaN (undefined) compares False


def _count_warnings(request: Request, n_read: int, n_generated: int) -> list[str]:
    if n_read in (n_generated, request.max_events):
        return []
    return [f"{request.events_path} holds {n_read} events, the generation step reported {n_generated}"]


def _legend(label: str, sigma: float, sigma_err: float, *, n_selected: int, n_read: int, n_generated: int) -> str:
    read = f"{n_read} events" if n_read == n_generated else f"{n_read} events read ({n_generated} generated)"
    return f"{label}\n{sigma_text(sigma, sigma_err)}, N = {n_selected} of {read}"


def sigma_text(sigma: float, sigma_err: float) -> str:
    """σ as plot legends show it; the reviewer looks for exactly this text with the generator's σ."""
    return f"σ = {sigma:.4g} ± {sigma_err:.2g} pb"


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
