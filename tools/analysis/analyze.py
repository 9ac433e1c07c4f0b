"""Select objects and events from the ROOT TTree of final-state objects, fill and plot histograms.

Histograms are written as JSON in the UHI serialisation (readable back into ``hist.Hist``) and as PNG (mplhep),
the PNG carrying its legend and binning as text metadata so a reviewer can check the plot against the data.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import operator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, Field

from madagents_tools.analysis.analysis_spec import (
    AnalysisSpec,
    CountCut,
    HistogramSpec,
    ObjectSelection,
    Observable,
    OppositeChargeCut,
    RangeCut,
    parse_observable,
)
from madagents_tools.contract import (
    OutputDir,
    RunPath,
    ToolRequest,
    ToolResult,
    atomic_path,
    package_versions,
    record_file,
    tool_main,
)
from madagents_tools.io.event_io import EventFileError, read_events
from madagents_tools.io.final_state import pair_mass

if TYPE_CHECKING:
    import hist
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]
    Flags: TypeAlias = npt.NDArray[np.bool_]
    WeightHist: TypeAlias = hist.Hist[hist.storage.Weight]

__all__ = ["HistogramRecord", "Request", "Result", "main", "run", "sigma_text"]


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


class HistogramRecord(BaseModel):
    """A written histogram and what its plot shows, for the report and the reviewer's gates."""

    name: str
    json_path: str
    png_path: str
    observable: str
    bins: int
    range: tuple[float, float]
    entries: float = Field(description="Sum of weights including under- and overflow.")
    peak: float | None = Field(default=None, description="Centre of the highest bin.")
    legend: str = Field(description="Legend text drawn on the plot (also stored in the PNG metadata).")


class Result(ToolResult):
    n_events: int = Field(default=0, description="Events read from the TTree.")
    n_selected: int = Field(default=0, description="Events passing all cuts.")
    n_generated: int = Field(default=0, description="Events generated (from the generation result).")
    sigma_pb: float | None = None
    sigma_err_pb: float | None = None
    fiducial_sigma_pb: float | None = Field(default=None, description="σ × n_selected / n_generated.")
    fiducial_sigma_err_pb: float | None = None
    histograms: list[HistogramRecord] = Field(default_factory=list)


KINEMATICS = ("pt", "eta", "phi", "mass")
VERSIONED_PACKAGES = ("uproot", "awkward", "hist", "uhi", "vector", "mplhep", "matplotlib", "numpy")
HEADROOM = 1.5
"""The y axis reaches 1.5 × the highest bar, leaving the upper part of the plot to the legend."""


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
    import vector  # noqa: PLC0415

    vector.register_awkward()
    sigma, sigma_err, n_generated = _read_generation(Path(request.generation_result_path))
    analysis = request.analysis
    events = _read_events(request)
    n_read = len(events)
    objects = {name: _select(events, selection) for name, selection in analysis.objects.items()}
    values = {text: _evaluate(parse_observable(text), objects, events) for text in _observable_texts(analysis)}
    passed = np.ones(n_read, dtype=np.bool_)
    for cut in analysis.cuts:
        passed &= _passes(cut, objects, values)
    weights = np.asarray(events["weight"], dtype=np.float64)
    n_selected = int(np.count_nonzero(passed))
    efficiency, efficiency_err = _efficiency(weights, passed)
    warnings = _count_warnings(request, n_read, n_generated)
    legend = _legend(
        request.process_label, sigma, sigma_err, n_selected=n_selected, n_read=n_read, n_generated=n_generated
    )
    records = []
    for spec in analysis.histograms:
        filled = passed & ~np.isnan(values[spec.observable])
        if n_selected > np.count_nonzero(filled):
            missing = n_selected - np.count_nonzero(filled)
            warnings.append(
                f"{spec.name}: {missing} of {n_selected} selected events lack the objects of "
                f"{spec.observable} and are not in the histogram"
            )
        records.append(_write_histogram(spec, values[spec.observable][filled], weights[filled], legend, request))
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
        files=[
            file
            for record in records
            for file in (record_file(record.json_path, "hist-json"), record_file(record.png_path, "png"))
        ],
        versions=versions,
        warnings=warnings,
    )


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
    charged = {name for cut in analysis.cuts if isinstance(cut, OppositeChargeCut) for name in cut.opposite_charge}
    functions = {parse_observable(text).function for text in _observable_texts(analysis)}
    wanted = {"weight", "met_pt"} if "met" in functions else {"weight"}
    for name, selection in analysis.objects.items():
        if name in charged and selection.collection == "jet":
            msg = f"opposite_charge needs leptons, but {name!r} selects jets, which carry no charge"
            raise _InputError(msg)
        optional = {
            "charge": name in charged,
            "iso": selection.isolation_max is not None,
            "btag": selection.btag is not None,
        }
        fields = [*KINEMATICS, *(field for field, needed in optional.items() if needed)]
        wanted.update(f"{selection.collection}_{field}" for field in fields)
    return sorted(wanted)


def _read_events(request: Request) -> Any:
    """The needed branches as an awkward array of records, one per event, from particle- or detector-level files."""
    try:
        return read_events(request.events_path, _needed_branches(request.analysis), max_events=request.max_events)
    except EventFileError as exc:
        raise _InputError(str(exc)) from None


def _select(events: Any, selection: ObjectSelection) -> Any:
    """Objects passing ``selection`` as Momentum4D records (with charge, iso, btag when read), hardest first."""
    import awkward as ak  # noqa: PLC0415

    prefix = f"{selection.collection}_"
    fields = {field.removeprefix(prefix): events[field] for field in events.fields if field.startswith(prefix)}
    objects = ak.zip(fields, with_name="Momentum4D")
    keep = objects.pt > selection.pt_min_gev
    if selection.abs_eta_max is not None:
        keep = keep & (abs(objects.eta) < selection.abs_eta_max)
    if selection.isolation_max is not None:
        keep = keep & (objects.iso < selection.isolation_max)
    if selection.btag is not None:
        keep = keep & ((objects.btag != 0) == selection.btag)
    chosen = objects[keep]
    # the generator already sorts by pT; sorting again keeps "[i] is the i-th hardest" true for any input file
    return chosen[ak.argsort(chosen.pt, axis=1, ascending=False, stable=True)]


def _evaluate(observable: Observable, objects: dict[str, Any], events: Any) -> Floats:
    """One value per event; NaN where the event lacks a referenced object (the observable is undefined)."""
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    if observable.function == "met":
        value = events["met_pt"]
    elif observable.collection is not None:  # count(name)
        value = ak.num(objects[observable.collection], axis=1)
    elif observable.pair is not None:
        value = pair_mass(objects[observable.pair[0]], objects[observable.pair[1]])
    else:
        picked = [ak.pad_none(objects[ref.name], ref.index + 1, axis=1)[:, ref.index] for ref in observable.objects]
        value = getattr(functools.reduce(operator.add, picked), observable.function)
    return np.asarray(ak.fill_none(value, np.nan), dtype=np.float64)


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


def _efficiency(weights: Floats, passed: Flags) -> tuple[float, float]:
    """Weighted selection efficiency and its binomial error (ε(1-ε)/N for unit weights)."""
    pass_sum, fail_sum = float(weights[passed].sum()), float(weights[~passed].sum())
    total = pass_sum + fail_sum
    if total <= 0:
        msg = f"the event weights sum to {total}; no selection efficiency can be formed"
        raise _InputError(msg)
    pass_squares, fail_squares = float((weights[passed] ** 2).sum()), float((weights[~passed] ** 2).sum())
    variance = (fail_sum**2 * pass_squares + pass_sum**2 * fail_squares) / total**4
    return pass_sum / total, math.sqrt(variance)


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


def _write_histogram(
    spec: HistogramSpec, values: Floats, weights: Floats, legend: str, request: Request
) -> HistogramRecord:
    import hist  # noqa: PLC0415
    import hist.serialization  # noqa: PLC0415
    import uhi.io.json  # noqa: PLC0415

    unit = parse_observable(spec.observable).unit
    xlabel = f"{spec.label} [{unit}]" if unit else spec.label
    axis = hist.axis.Regular(spec.bins, *spec.range, name=spec.name, label=xlabel)
    histogram = hist.Hist(axis, storage=hist.storage.Weight(), name=spec.name, label=spec.observable)
    histogram.fill(values, weight=weights)
    json_path, png_path = (Path(request.out_dir) / f"{spec.name}.{suffix}" for suffix in ("json", "png"))
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(hist.serialization.to_uhi(histogram), default=uhi.io.json.default))
    record = HistogramRecord(
        name=spec.name,
        json_path=str(json_path),
        png_path=str(png_path),
        observable=spec.observable,
        bins=spec.bins,
        range=spec.range,
        entries=float(histogram.sum(flow=True).value),
        peak=_peak(histogram),
        legend=legend,
    )
    width = (spec.range[1] - spec.range[0]) / spec.bins
    _plot(histogram, record, xlabel, f"Events / {width:.3g} {unit}".rstrip())
    return record


def _peak(histogram: WeightHist) -> float | None:
    import numpy as np  # noqa: PLC0415

    values = histogram.values()
    return float(histogram.axes[0].centers[np.argmax(values)]) if np.any(values) else None


def _plot(histogram: WeightHist, record: HistogramRecord, xlabel: str, ylabel: str) -> None:
    """Draw the histogram with its statistical errors; the PNG's Description text holds what the plot shows."""
    import matplotlib.style  # noqa: PLC0415
    import mplhep  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415 - no pyplot: no global figure state, nothing to close

    values, errors = histogram.values(), np.sqrt(histogram.view().variance)
    # The histogram's name and the sha256 of its JSON file tie this picture to its data: a swapped PNG fails review.
    shown = {
        "histogram": record.name,
        "histogram_sha256": hashlib.sha256(Path(record.json_path).read_bytes()).hexdigest(),
        "legend": record.legend,
        "bins": record.bins,
        "range": list(record.range),
        "entries": record.entries,
        "observable": record.observable,
        "xlabel": xlabel,
        "ylabel": ylabel,
    }
    with matplotlib.style.context(mplhep.style.CMS):
        figure = Figure()
        axes = figure.subplots()
        # explicit errors: yerr=True would ask scipy for Poisson intervals, which is not installed
        mplhep.histplot(histogram, ax=axes, histtype="step", yerr=errors, label=record.legend)
        axes.set(xlabel=xlabel, ylabel=ylabel, xlim=record.range)
        top = float(np.max(values + errors))
        axes.set_ylim(min(0.0, float(np.min(values - errors))), HEADROOM * top if top > 0 else 1.0)
        axes.legend(loc="upper right", fontsize="small")
        with atomic_path(record.png_path) as tmp:
            figure.savefig(tmp, format="png", bbox_inches="tight", metadata={"Description": json.dumps(shown)})


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    raise SystemExit(main())
