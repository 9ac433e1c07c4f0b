"""Terminal output: live progress while a run goes on, the summary table at the end, the tutor's answers."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from madagents.context import Reporter
from madagents.heartbeat import Heartbeat
from madagents.state import RunState, typed_results
from madagents_tools.analysis import analyze, plot_samples
from madagents_tools.generation import merge_samples, pythia8_generate
from madagents_tools.ml import amplitude_surrogate

__all__ = ["AnswerFirst", "AnswerStream", "RichReporter", "summary_table"]


class RichReporter:
    """Prints each role as it finishes and a progress bar for tools that report progress; without a terminal (a CI
    log) a heartbeat line at intervals instead, since a bar is only drawn on a terminal."""

    def __init__(self, console: Console, heartbeat: Heartbeat | None = None) -> None:
        self.console = console
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._heartbeat = heartbeat or Heartbeat()

    def node_started(self, node: str) -> None:
        self.console.print(f"[bold]{node}[/bold] …")

    def node_finished(self, node: str, seconds: float, error: str | None) -> None:
        self._stop_progress()
        mark = "[red]✗[/red]" if error else "[green]✓[/green]"
        self.console.print(f"{mark} {node} ({seconds:.1f} s)")

    def progress(self, task: str, done: int, total: int) -> None:
        # Jupyter draws a live bar though it is no terminal; only a log file needs heartbeat lines
        if not (self.console.is_terminal or self.console.is_jupyter):
            line = self._heartbeat.beat(task, done, total)
            if line is not None:
                self.console.print(line, highlight=False, markup=False)
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        if task not in self._tasks:
            self._tasks[task] = self._progress.add_task(f"{task} events", total=total)
        self._progress.update(self._tasks[task], completed=done, total=total)
        if self._progress.finished:  # gone once complete: a question or a note may follow before the role ends
            self._stop_progress()

    def note(self, text: str) -> None:
        self.console.print(f"  [dim]{text}[/dim]", highlight=False)

    def close(self) -> None:
        """Take down a bar still drawn (a run stopped in the middle of a tool)."""
        self._stop_progress()

    def _stop_progress(self) -> None:
        self._heartbeat.reset()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()


class AnswerStream:
    """A model's answer rendered as markdown while its tokens arrive (lists, emphasis, code blocks, tables)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._text = ""
        self._live: Live | None = None

    def token(self, text: str) -> None:
        self._text += text
        if self._live is None:
            self._live = Live(Markdown(self._text), console=self.console, refresh_per_second=8)
            self._live.start()
        else:
            self._live.update(Markdown(self._text))

    def end(self) -> None:
        """The answer is complete, or a tool call interrupts it: what is printed next goes below it."""
        if self._live is not None:
            self._live.update(Markdown(self._text), refresh=True)
            self._live.stop()
            if not self.console.is_terminal:  # rich ends a live display with a newline on terminals only
                self.console.line()
        self._live = None
        self._text = ""


class AnswerFirst:
    """A reporter that finishes the answer being streamed before it shows anything, so the two never interleave."""

    def __init__(self, inner: Reporter, answer: AnswerStream) -> None:
        self.inner = inner
        self.answer = answer

    def node_started(self, node: str) -> None:
        self.answer.end()
        self.inner.node_started(node)

    def node_finished(self, node: str, seconds: float, error: str | None) -> None:
        self.answer.end()
        self.inner.node_finished(node, seconds, error)

    def progress(self, task: str, done: int, total: int) -> None:
        self.answer.end()
        self.inner.progress(task, done, total)

    def note(self, text: str) -> None:
        self.answer.end()
        self.inner.note(text)


def summary_table(state: RunState, run_dir: Path, seconds: float) -> Table:
    name = state.workflow.name if state.workflow else "run"
    table = Table(title=f"{name}: results", show_header=False)
    table.add_column("quantity", style="bold")
    table.add_column("value")
    merged = (
        {need for step, _ in state.plan.steps_of(merge_samples.Request) for need in step.needs} if state.plan else set()
    )
    for step, generation in typed_results(state.plan, state.results, pythia8_generate.Result):
        if step.id in merged:  # a chunk: its merged sample is shown
            continue
        if generation.sigma_pb is not None:
            table.add_row(f"σ ({step.id})", f"{generation.sigma_pb:.5g} ± {generation.sigma_err_pb or 0:.2g} pb")
        table.add_row(f"events ({step.id})", f"{generation.n_events} generated")
    for step, analysis in typed_results(state.plan, state.results, analyze.Result):
        if analysis.fiducial_sigma_pb is not None:
            table.add_row(
                f"selected ({step.id})", f"{analysis.n_selected} (σ_fid = {analysis.fiducial_sigma_pb:.4g} pb)"
            )
        for record in analysis.histograms:
            table.add_row(f"histogram {record.name}", f"{run_dir / record.png_path}\n{run_dir / record.json_path}")
    for _, drawn in typed_results(state.plan, state.results, plot_samples.Result):
        for plot in drawn.plots:
            table.add_row(f"samples plot {plot.name}", f"{run_dir / plot.png_path}\n{run_dir / plot.json_path}")
    for step, surrogate in typed_results(state.plan, state.results, amplitude_surrogate.Result):
        if surrogate.metrics is not None:
            within = f"{surrogate.metrics.fraction_within_1pct:.1%} of held-out points within 1 %"
            table.add_row(f"surrogate ({step.id})", within)
    if state.verdict is not None:
        table.add_row("physics gates", state.verdict.tally())
    table.add_row("run directory", f"{run_dir} (report.md, reproduce.sh, provenance.json)")
    table.add_row("wall time", f"{seconds:.1f} s")
    return table
