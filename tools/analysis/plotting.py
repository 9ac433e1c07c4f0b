"""Histograms as UHI JSON and as slide-ready PNG plots (mplhep).

The JSON file holds the weights of the analysed events, under- and overflow included; the plot shows them
normalised as the workflow asks (events, dσ/dx or σ·L), with a "Simulation" label, √s and luminosity, a log y
axis when the filled bins span decades, and under- and overflow stated apart from the in-range entries. The
PNG's metadata carries what the plot shows, so a reviewer can check the picture against the data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from pydantic import BaseModel, Field

from madagents_tools.analysis.analysis_spec import HistogramSpec, PlotOptions, parse_observable
from madagents_tools.analysis.unbinned import SUFFIX, write_values
from madagents_tools.contract import atomic_path

if TYPE_CHECKING:
    import hist
    import numpy as np
    import numpy.typing as npt
    from matplotlib.axes import Axes

    Floats: TypeAlias = npt.NDArray[np.float64]
    WeightHist: TypeAlias = hist.Hist[hist.storage.Weight]

__all__ = [
    "HistogramRecord",
    "Normalisation",
    "axis_labels",
    "energy_label",
    "log_y_for",
    "set_y_range",
    "warm_up",
    "write_histogram",
]

HEADROOM = 1.5
"""The linear y axis reaches 1.5 × the highest bar, leaving the upper part of the plot to the legend."""
LOG_DECADES = 3.0
"""With log_y unset, the y axis is logarithmic when the filled bins span at least this many decades."""
PB_PER_FB = 1000.0


class HistogramRecord(BaseModel):
    """A written histogram and what its plot shows, for the report and the reviewer's gates."""

    name: str
    json_path: str
    png_path: str
    values_path: str | None = Field(
        default=None,
        description="The filled events' values and weights, unbinned (analysis/unbinned.py), for KS tests.",
    )
    observable: str
    bins: int
    range: tuple[float, float]
    entries: float = Field(description="Sum of weights including under- and overflow.")
    underflow: float = Field(default=0.0, description="Sum of weights below the axis range (not drawn).")
    overflow: float = Field(default=0.0, description="Sum of weights above the axis range (not drawn).")
    peak: float | None = Field(default=None, description="Centre of the highest bin.")
    legend: str = Field(description="Legend text drawn on the plot (also stored in the PNG metadata).")
    normalisation: Literal["events", "cross_section", "luminosity"] = "events"
    scale: float = Field(
        default=1.0, description="Plotted bin height = JSON bin content × scale (÷ bin width for cross_section)."
    )
    log_y: bool = False


@dataclass(frozen=True)
class Normalisation:
    """What the plots are scaled to, from the workflow's plot options and the sample."""

    options: PlotOptions
    sigma_pb: float
    weight_sum: float
    """Sum of the weights of all events analysed: σ × w / weight_sum is an event's share of σ."""
    sqrt_s_gev: float | None

    def scale(self) -> float:
        if self.options.normalisation == "events" or self.weight_sum <= 0:
            return 1.0
        per_weight = self.sigma_pb / self.weight_sum
        if self.options.normalisation == "cross_section":
            return per_weight
        return per_weight * PB_PER_FB * (self.options.luminosity_fb or 0.0)

    def right_label(self) -> str:
        return energy_label(self.options, self.sqrt_s_gev)


def energy_label(options: PlotOptions, sqrt_s_gev: float | None) -> str:
    """The text right above a plot: √s, and the luminosity when the plot is scaled to one."""
    energy = f"{sqrt_s_gev / 1000:g} TeV" if sqrt_s_gev else ""
    if options.luminosity_fb is None:
        # √ as a character: mathtext's \sqrt logs "No TeX to Unicode mapping" in the CMS style's fonts, into every log
        return f"√s = {energy}" if energy else ""
    luminosity = f"{options.luminosity_fb:g} fb$^{{-1}}$"
    return f"{luminosity} ({energy})" if energy else luminosity


def axis_labels(spec: HistogramSpec, options: PlotOptions) -> tuple[str, str]:
    """The x label (with the observable's unit) and the y label the normalisation gives."""
    unit = parse_observable(spec.observable).unit
    width = (spec.range[1] - spec.range[0]) / spec.bins
    return (f"{spec.label} [{unit}]" if unit else spec.label), _ylabel(options, spec.label, unit, width)


def write_histogram(
    spec: HistogramSpec, values: Floats, weights: Floats, legend: str, out_dir: Path, normalisation: Normalisation
) -> HistogramRecord:
    import hist  # noqa: PLC0415
    import hist.serialization  # noqa: PLC0415
    import uhi.io.json  # noqa: PLC0415

    xlabel, ylabel = axis_labels(spec, normalisation.options)
    axis = hist.axis.Regular(spec.bins, *spec.range, name=spec.name, label=xlabel)
    histogram = hist.Hist(axis, storage=hist.storage.Weight(), name=spec.name, label=spec.observable)
    histogram.fill(values, weight=weights)
    json_path, png_path = (out_dir / f"{spec.name}.{suffix}" for suffix in ("json", "png"))
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(hist.serialization.to_uhi(histogram), default=uhi.io.json.default))
    values_path = out_dir / f"{spec.name}{SUFFIX}"
    write_values(values_path, values, weights)
    flow = histogram.values(flow=True)
    underflow, overflow = float(flow[0]), float(flow[-1])
    in_range = float(histogram.sum().value)
    record = HistogramRecord(
        name=spec.name,
        json_path=str(json_path),
        png_path=str(png_path),
        values_path=str(values_path),
        observable=spec.observable,
        bins=spec.bins,
        range=spec.range,
        entries=float(histogram.sum(flow=True).value),
        underflow=underflow,
        overflow=overflow,
        peak=_peak(histogram),
        legend=f"{legend}\n{_weights(in_range)} in range; {_weights(underflow)} below, {_weights(overflow)} above",
        normalisation=normalisation.options.normalisation,
        scale=normalisation.scale(),
    )
    return _plot(histogram, record, xlabel, ylabel, normalisation)


def _weights(value: float) -> str:
    """A sum of weights: an integer as such (unit weights), otherwise four significant digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _ylabel(options: PlotOptions, label: str, unit: str, width: float) -> str:
    if options.normalisation == "cross_section":
        return f"d$\\sigma$ / d{label} [pb / {unit}]" if unit else f"d$\\sigma$ / d{label} [pb]"
    return f"Events / {width:.3g} {unit}".rstrip()


def _peak(histogram: WeightHist) -> float | None:
    import numpy as np  # noqa: PLC0415

    values = histogram.values()
    return float(histogram.axes[0].centers[np.argmax(values)]) if np.any(values) else None


def log_y_for(options: PlotOptions, heights: Floats) -> bool:
    import numpy as np  # noqa: PLC0415

    if options.log_y is not None:
        return options.log_y
    filled = heights[heights > 0]
    return bool(len(filled)) and float(np.log10(filled.max() / filled.min())) >= LOG_DECADES


def _plot(
    histogram: WeightHist, record: HistogramRecord, xlabel: str, ylabel: str, normalisation: Normalisation
) -> HistogramRecord:
    """Draw the histogram with its statistical errors; the PNG's Description text holds what the plot shows."""
    import matplotlib.style  # noqa: PLC0415
    import mplhep  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415 - no pyplot: no global figure state, nothing to close

    per_width = normalisation.options.normalisation == "cross_section"
    factor = record.scale / (histogram.axes[0].widths if per_width else 1.0)
    values, errors = histogram.values() * factor, np.sqrt(histogram.view().variance) * factor
    record = record.model_copy(update={"log_y": log_y_for(normalisation.options, values)})
    # The histogram's name and the sha256 of its JSON file tie this picture to its data: a swapped PNG fails review.
    shown = {
        "histogram": record.name,
        "histogram_sha256": hashlib.sha256(Path(record.json_path).read_bytes()).hexdigest(),
        "legend": record.legend,
        "bins": record.bins,
        "range": list(record.range),
        "entries": record.entries,
        "underflow": record.underflow,
        "overflow": record.overflow,
        "observable": record.observable,
        "xlabel": xlabel,
        "ylabel": ylabel,
        "normalisation": record.normalisation,
        "scale": record.scale,
        "log_y": record.log_y,
    }
    with matplotlib.style.context(mplhep.style.CMS):
        figure = Figure()
        axes = figure.subplots()
        # explicit errors: yerr=True would ask scipy for Poisson intervals, which is not installed
        edges = histogram.axes[0].edges
        mplhep.histplot(values, edges, ax=axes, histtype="step", yerr=errors, label=record.legend)
        axes.set(xlabel=xlabel, ylabel=ylabel, xlim=record.range)
        set_y_range(axes, values, errors, log=record.log_y)
        mplhep.label.exp_label(exp="", llabel="Simulation", rlabel=normalisation.right_label(), ax=axes)
        axes.legend(loc="upper right", fontsize="x-small")
        with atomic_path(record.png_path) as tmp:
            figure.savefig(tmp, format="png", bbox_inches="tight", metadata={"Description": json.dumps(shown)})
    return record


def warm_up() -> None:
    """Draw and save a throw-away plot: matplotlib loads its fonts and builds its mathtext parser once per process
    (0.5 s), which a warm tool interpreter (madagents_tools.warm_start) pays before the analysis starts."""
    import io  # noqa: PLC0415

    import matplotlib.style  # noqa: PLC0415
    import mplhep  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    with matplotlib.style.context(mplhep.style.CMS):
        figure = Figure()
        axes = figure.subplots()
        mplhep.histplot([1.0], [0.0, 1.0], ax=axes, histtype="step", yerr=[0.1], label="x")
        axes.set(xlabel="$m_{\\mu\\mu}$ [GeV]", ylabel="d$\\sigma$ / dx [pb]")
        mplhep.label.exp_label(exp="", llabel="Simulation", rlabel="√s = 13 TeV", ax=axes)
        axes.legend(loc="upper right", fontsize="x-small")
        figure.savefig(io.BytesIO(), format="png", bbox_inches="tight")


def set_y_range(axes: Axes, values: Floats, errors: Floats, *, log: bool) -> None:
    import numpy as np  # noqa: PLC0415

    top = float(np.max(values + errors)) if len(values) else 0.0
    if log:
        filled = values[values > 0]
        bottom = float(filled.min()) / 2 if len(filled) else 0.1
        axes.set_yscale("log")
        # the legend takes the upper part: leave a third of the decades above the highest bar
        decades = np.log10(max(top, bottom * 10) / bottom)
        axes.set_ylim(bottom, max(top, bottom * 10) * 10 ** (decades / 2))
        return
    axes.set_ylim(min(0.0, float(np.min(values - errors))), HEADROOM * top if top > 0 else 1.0)
