"""Several samples of one workflow drawn together: backgrounds stacked, signals overlaid, with a ratio panel.

Each sample was analysed alone (its histogram JSON holds its events' weights and its result the scale of its
plot: σ·L or σ per unit weight). This tool scales each by its own factor, writes them and the stacked
backgrounds' sum as one JSON file per histogram, and draws the slide: mplhep's stacked fill for the
backgrounds, lines for the signals, a ratio panel below. The PNG's metadata carries the JSON file's sha256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, Field, model_validator

from madagents_tools.analysis.analysis_spec import HistogramSpec, PlotOptions
from madagents_tools.analysis.plotting import axis_labels, energy_label, log_y_for, set_y_range
from madagents_tools.contract import (
    OutputDir,
    RunPath,
    StrictModel,
    ToolRequest,
    ToolResult,
    atomic_path,
    exit_without_teardown,
    package_versions,
    record_file,
    tool_main,
)

if TYPE_CHECKING:
    import hist
    import numpy as np
    import numpy.typing as npt
    from matplotlib.axes import Axes

    Floats: TypeAlias = npt.NDArray[np.float64]
    WeightHist: TypeAlias = hist.Hist[hist.storage.Weight]

__all__ = ["Request", "Result", "SampleInput", "SamplePlotRecord", "SampleShown", "main", "run", "sample_scale"]

Role = Literal["signal", "background"]
RATIO_RANGE = (0.0, 2.5)
"""The ratio panel's y range when no point lies above it; a larger ratio widens it."""


class SampleInput(StrictModel):
    name: str = Field(description="The sample's name in the workflow.")
    role: Role
    label: str = Field(description="What was generated, for the legend, e.g. 'Pythia8 pp → Z/γ* → μμ'.")
    analysis_result_path: RunPath = Field(description="Result JSON of the sample's analysis step.")


class Request(ToolRequest):
    tool: Literal["plot_samples"] = "plot_samples"
    samples: list[SampleInput] = Field(min_length=2, description="In legend order; backgrounds stack in this order.")
    histograms: list[HistogramSpec] = Field(min_length=1)
    plots: PlotOptions
    sqrt_s_gev: float | None = Field(default=None, gt=0, description="Centre-of-mass energy, for the label.")
    out_dir: OutputDir = Field(default="hists/samples")

    @model_validator(mode="after")
    def _ratio_has_its_samples(self) -> Request:
        roles = {sample.role for sample in self.samples}
        if self.plots.ratio == "total_over_background" and (
            self.plots.normalisation == "events" or roles != {"signal", "background"}
        ):
            msg = "ratio total_over_background needs signal and background samples scaled by σ (not events)"
            raise ValueError(msg)
        if self.plots.ratio == "over_reference" and self.plots.ratio_reference is None and "background" not in roles:
            msg = "ratio over_reference without ratio_reference divides by the first background, and there is none"
            raise ValueError(msg)
        if self.plots.ratio_reference not in {None, *(sample.name for sample in self.samples)}:
            msg = f"ratio_reference {self.plots.ratio_reference!r} is not one of the samples"
            raise ValueError(msg)
        return self


class SampleShown(BaseModel):
    """One sample as a plot shows it."""

    name: str
    role: Role
    legend: str
    source_json_path: str = Field(description="The sample's own histogram (its analysed events' weights).")
    scale: float = Field(description="Drawn bin content = source bin content × scale (÷ bin width for dσ/dx).")
    in_range: float = Field(description="Sum of the scaled bins in range.")


class SamplePlotRecord(BaseModel):
    name: str
    json_path: str = Field(description="The scaled samples and the backgrounds' sum (JSON, UHI histograms).")
    png_path: str
    style: Literal["stack", "overlay"]
    ratio: str | None
    normalisation: Literal["events", "cross_section", "luminosity", "shape"]
    log_y: bool
    samples: list[SampleShown]
    background_in_range: float | None = Field(default=None, description="In-range sum of the stacked backgrounds.")


class Result(ToolResult):
    plots: list[SamplePlotRecord] = Field(default_factory=list)


class _InputError(Exception):
    """A sample's analysis is missing or failed; ``run`` reports it as ``Result(ok=False)``."""


class _Analysis(BaseModel):
    """What this tool reads from a sample's analysis result; the other fields are ignored."""

    ok: bool
    error: str | None = None
    sigma_pb: float | None = None
    histograms: list[dict[str, Any]] = Field(default_factory=list)


def sample_scale(record: dict[str, Any], shape_sum: float | None) -> float:
    """Drawn = JSON content × this: the analysis' own plot scale, or 1 / in-range sum for shapes."""
    if shape_sum is not None:
        return 1.0 / shape_sum if shape_sum > 0 else 0.0
    return float(record["scale"])


def run(request: Request) -> Result:
    versions = package_versions("hist", "uhi", "mplhep", "matplotlib", "numpy")
    try:
        analyses = {sample.name: _read_analysis(sample) for sample in request.samples}
        plots = [_combine(request, spec, analyses) for spec in request.histograms]
    except _InputError as exc:
        return Result(ok=False, error=str(exc), versions=versions)
    files = [
        file for plot in plots for file in (record_file(plot.json_path, "json"), record_file(plot.png_path, "png"))
    ]
    return Result(ok=True, plots=plots, files=files, versions=versions)


def _read_analysis(sample: SampleInput) -> _Analysis:
    path = Path(sample.analysis_result_path)
    try:
        analysis = _Analysis.model_validate_json(path.read_text())
    except (OSError, ValueError) as exc:
        msg = f"the analysis of sample {sample.name} ({path}) cannot be read: {exc}"
        raise _InputError(msg) from None
    if not analysis.ok:
        msg = f"the analysis of sample {sample.name} failed ({analysis.error}); there is nothing to plot"
        raise _InputError(msg)
    return analysis


def _shapes(request: Request) -> bool:
    """Overlaid samples without a cross-section scale are compared as shapes (unit area)."""
    return _style(request) == "overlay" and request.plots.normalisation == "events"


def _style(request: Request) -> Literal["stack", "overlay"]:
    return request.plots.style or "stack"


def _combine(request: Request, spec: HistogramSpec, analyses: dict[str, _Analysis]) -> SamplePlotRecord:
    """Scale each sample's histogram, sum the backgrounds, write the JSON file and draw the plot."""
    import hist.serialization  # noqa: PLC0415
    import uhi.io.json  # noqa: PLC0415

    scaled: dict[str, WeightHist] = {}
    shown = []
    for sample in request.samples:
        record = next((item for item in analyses[sample.name].histograms if item.get("name") == spec.name), None)
        if record is None:
            msg = f"sample {sample.name} has no histogram {spec.name}"
            raise _InputError(msg)
        source = _load(Path(record["json_path"]))
        scale = sample_scale(record, float(source.sum().value) if _shapes(request) else None)
        scaled[sample.name] = source * scale
        legend = _legend(sample, analyses[sample.name].sigma_pb)
        in_range = float(scaled[sample.name].sum().value)
        shown.append(
            SampleShown(
                **sample.model_dump(include={"name", "role"}),
                legend=legend,
                scale=scale,
                source_json_path=record["json_path"],
                in_range=in_range,
            )
        )
    backgrounds = [scaled[item.name] for item in shown if item.role == "background"]
    total = sum(backgrounds[1:], backgrounds[0]) if backgrounds and not _shapes(request) else None
    out = Path(request.out_dir)
    json_path, png_path = out / f"{spec.name}.json", out / f"{spec.name}.png"
    content = {
        "samples": {name: hist.serialization.to_uhi(item) for name, item in scaled.items()},
        "backgrounds": None if total is None else hist.serialization.to_uhi(total),
    }
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(content, default=uhi.io.json.default))
    normalisation = "shape" if _shapes(request) else request.plots.normalisation
    plot = SamplePlotRecord(
        name=spec.name,
        json_path=str(json_path),
        png_path=str(png_path),
        style=_style(request),
        ratio=request.plots.ratio,
        normalisation=normalisation,
        log_y=False,
        samples=shown,
        background_in_range=None if total is None else float(total.sum().value),
    )
    return _draw(request, spec, plot, scaled, total)


def _load(path: Path) -> WeightHist:
    import hist  # noqa: PLC0415
    import uhi.io.json  # noqa: PLC0415

    try:
        return hist.Hist(json.loads(path.read_text(), object_hook=uhi.io.json.object_hook))
    except (OSError, ValueError) as exc:
        msg = f"histogram {path} cannot be read: {exc}"
        raise _InputError(msg) from None


def _legend(sample: SampleInput, sigma_pb: float | None) -> str:
    sigma = f", σ = {sigma_pb:.3g} pb" if sigma_pb is not None else ""
    return f"{sample.name} ({sample.role}): {sample.label}{sigma}"


def _draw(
    request: Request, spec: HistogramSpec, plot: SamplePlotRecord, scaled: dict[str, WeightHist], total: Any
) -> SamplePlotRecord:
    """The slide: main panel (stack or lines), the ratio panel if asked for; metadata ties it to its JSON file."""
    import matplotlib.style  # noqa: PLC0415
    import mplhep  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415 - no pyplot: no global figure state

    per_width = request.plots.normalisation == "cross_section"
    edges = np.asarray(scaled[plot.samples[0].name].axes[0].edges)
    widths = np.diff(edges) if per_width else np.ones(len(edges) - 1)
    drawn = {name: (item.values() / widths, np.sqrt(item.variances()) / widths) for name, item in scaled.items()}
    stacked = [item for item in plot.samples if item.role == "background" and plot.style == "stack"]
    lines = [item for item in plot.samples if item not in stacked]
    top = sum((drawn[item.name][0] for item in stacked), np.zeros(len(widths)))
    heights = np.concatenate([top, *(drawn[item.name][0] for item in lines)])
    plot = plot.model_copy(update={"log_y": log_y_for(request.plots, heights)})
    xlabel, ylabel = axis_labels(spec, request.plots)
    ylabel = "Fraction of events / bin" if plot.normalisation == "shape" else ylabel
    with matplotlib.style.context(mplhep.style.CMS):
        figure = Figure()
        if plot.ratio is None:
            main, ratio_axes = figure.subplots(), None
        else:
            main, ratio_axes = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.06})
        if stacked:
            mplhep.histplot(
                [drawn[item.name][0] for item in stacked],
                edges,
                ax=main,
                stack=True,
                histtype="fill",
                label=[item.legend for item in stacked],
            )
            error = np.sqrt(np.asarray(total.variances())) / widths
            main.stairs(
                top + error,
                edges,
                baseline=top - error,
                fill=False,
                hatch="///",
                linewidth=0,
                label="background stat. unc.",
            )
        for item in lines:
            values, errors = drawn[item.name]
            mplhep.histplot(values, edges, ax=main, histtype="step", yerr=errors, label=item.legend, linewidth=2)
        main.set(ylabel=ylabel, xlim=spec.range)
        bars = np.concatenate([top, *(drawn[item.name][0] for item in lines)])
        set_y_range(main, bars, np.zeros_like(bars), log=plot.log_y)
        mplhep.label.exp_label(
            exp="", llabel="Simulation", rlabel=energy_label(request.plots, request.sqrt_s_gev), ax=main
        )
        main.legend(loc="upper right", fontsize="xx-small")
        if ratio_axes is None:
            main.set(xlabel=xlabel)
        else:
            _ratio_panel(ratio_axes, request, plot, scaled, total, edges)
            ratio_axes.set(xlabel=xlabel)
        shown = {
            "histogram": plot.name,
            "histogram_sha256": hashlib.sha256(Path(plot.json_path).read_bytes()).hexdigest(),
            **plot.model_dump(exclude={"json_path", "png_path"}),
        }
        with atomic_path(plot.png_path) as tmp:
            figure.savefig(tmp, format="png", bbox_inches="tight", metadata={"Description": json.dumps(shown)})
    return plot


def _ratio_panel(
    axes: Axes, request: Request, plot: SamplePlotRecord, scaled: dict[str, WeightHist], total: Any, edges: Floats
) -> None:
    """(S + B) / B = 1 + S / B, its error from S and B alone; or each sample over the reference sample."""
    import mplhep  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    def values(item: Any) -> tuple[Floats, Floats]:
        return np.asarray(item.values()), np.asarray(item.variances())

    highest = RATIO_RANGE[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        if plot.ratio == "total_over_background":
            background, background_var = values(total)
            signals = [values(scaled[item.name]) for item in plot.samples if item.role == "signal"]
            signal = sum(value for value, _ in signals)
            signal_var = sum(variance for _, variance in signals)
            ratio = 1 + signal / background
            error = np.sqrt(signal_var + (signal / background) ** 2 * background_var) / background
            mplhep.histplot(ratio, edges, yerr=error, ax=axes, histtype="errorbar", color="black")
            axes.set_ylabel("(S + B) / B", fontsize="small")
            highest = max(highest, float(np.nanmax(np.where(np.isfinite(ratio), ratio, np.nan), initial=0.0)))
        else:
            reference = request.plots.ratio_reference or next(
                item.name for item in plot.samples if item.role == "background"
            )
            denominator, denominator_var = values(scaled[reference])
            for item in plot.samples:
                if item.name == reference:
                    continue
                numerator, numerator_var = values(scaled[item.name])
                ratio = numerator / denominator
                error = np.abs(ratio) * np.sqrt(numerator_var / numerator**2 + denominator_var / denominator**2)
                mplhep.histplot(ratio, edges, yerr=error, ax=axes, histtype="errorbar", label=item.name)
                highest = max(highest, float(np.nanmax(np.where(np.isfinite(ratio), ratio, np.nan), initial=0.0)))
            axes.set_ylabel(f"over {reference}", fontsize="small")
    axes.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    axes.set_ylim(RATIO_RANGE[0], min(highest * 1.1, 1e6))


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
