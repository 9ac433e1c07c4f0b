"""A run's outcome read back from its directory: status, σ, the histograms as ``hist.Hist``, and where the files are.

Read as untrusted data (through :mod:`madagents.safe_files`): a run directory may come from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TypeVar

from madagents.errors import UserInputError
from madagents.run_reads import load_run_hist
from madagents.rundir import RunDir
from madagents.safe_files import read_model
from madagents.state import Plan
from madagents_tools.analysis import analyze, plot_samples
from madagents_tools.contract import ToolRequest, ToolResult

__all__ = ["RunResult"]

ResultT = TypeVar("ResultT", bound=ToolResult)


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run produced. ``madagents.run`` returns one; :meth:`open` reads any run directory."""

    run_dir: Path
    """The run directory."""
    status: Literal["running", "succeeded", "failed"]
    """From status.json: only ``succeeded`` runs passed every physics gate."""
    error: str | None = None
    """Why the run failed (status.json)."""
    sigma_pb: float | None = None
    """Cross section of the generated process in pb (the first analysis' generation)."""
    sigma_err_pb: float | None = None
    """Its Monte Carlo uncertainty in pb."""
    fiducial_sigma_pb: float | None = None
    """σ × (events selected / events generated), in pb."""
    fiducial_sigma_err_pb: float | None = None
    """Its uncertainty in pb."""
    n_events: int | None = None
    """Events generated."""
    n_selected: int | None = None
    """Events passing the analysis cuts."""
    hists: dict[str, Any] = field(default_factory=dict)
    """``hist.Hist`` of every histogram, by its name (its path under hists/ without ``.json``)."""
    plots: dict[str, Path] = field(default_factory=dict)
    """PNG of every histogram, by the same name."""

    @property
    def report(self) -> Path:
        """report.md: what was done, σ, plots, gates, assumptions."""
        return self.run_dir / "report.md"

    @property
    def reproduce_script(self) -> Path:
        """reproduce.sh: ``bash reproduce.sh OUT_DIR`` regenerates events and histograms."""
        return self.run_dir / "reproduce.sh"

    @classmethod
    def open(cls, run_dir: Path | str) -> RunResult:
        """Read a run directory (finished, failed or still running); raises :class:`UserInputError` if it is none."""
        root = Path(run_dir)
        status = RunDir.open(root).status()
        analyses = _finished_results(root, analyze.Request, analyze.Result, "analysis results")
        if not analyses:
            return cls(run_dir=root, status=status.state, error=status.error)
        first = analyses[0]
        plot_steps = _finished_results(root, plot_samples.Request, plot_samples.Result, "samples' plots")
        sample_plots = [plot for step in plot_steps for plot in step.plots]
        records = [record for analysis in analyses for record in analysis.histograms]
        try:
            hists = {_name(record.json_path): load_run_hist(root, record.json_path) for record in records}
        except (OSError, ValueError) as exc:
            msg = f"cannot read the histograms of {root}: {exc}"
            raise UserInputError(msg) from None
        return cls(
            run_dir=root,
            status=status.state,
            error=status.error,
            sigma_pb=first.sigma_pb,
            sigma_err_pb=first.sigma_err_pb,
            fiducial_sigma_pb=first.fiducial_sigma_pb,
            fiducial_sigma_err_pb=first.fiducial_sigma_err_pb,
            n_events=first.n_generated,
            n_selected=first.n_selected,
            hists=hists,
            plots={
                **{_name(record.json_path): root / record.png_path for record in records},
                **{_name(plot.json_path): root / plot.png_path for plot in sample_plots},
            },
        )

    def summary(self) -> str:
        """A few lines: status, σ, events, histograms and where the report is."""
        lines = [f"run {self.run_dir}: {self.status}" + (f" ({self.error})" if self.error else "")]
        if self.sigma_pb is not None:
            lines.append(f"σ = {self.sigma_pb:.5g} ± {self.sigma_err_pb or 0:.2g} pb")
        if self.n_events is not None:
            lines.append(f"{self.n_events} events generated, {self.n_selected} selected")
        if self.fiducial_sigma_pb is not None:
            lines.append(f"σ_fid = {self.fiducial_sigma_pb:.4g} ± {self.fiducial_sigma_err_pb or 0:.2g} pb")
        lines += [f"histogram {name}: {path}" for name, path in self.plots.items()]
        if self.report.is_file():
            lines.append(f"report: {self.report}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:  # Jupyter shows this for a result at the end of a cell
        return "\n".join(f"- {line}" for line in self.summary().splitlines())


def _finished_results(root: Path, request: type[ToolRequest], result: type[ResultT], what: str) -> list[ResultT]:
    """The results of the finished steps that ran tool ``request``, in plan order; none without a plan."""
    if not (root / "plan.json").is_file():
        return []
    try:
        plan = read_model(root, "plan.json", Plan)
        return [
            read_model(root, f"steps/{step.id}/result.json", result)
            for step, _ in plan.steps_of(request)
            if (root / "steps" / step.id / "result.json").is_file()
        ]
    except (OSError, ValueError) as exc:
        msg = f"cannot read the plan and {what} of {root}: {exc}"
        raise UserInputError(msg) from None


def _name(json_path: str) -> str:
    path = PurePosixPath(json_path).with_suffix("")
    return path.relative_to("hists").as_posix() if path.parts[:1] == ("hists",) else path.as_posix()
