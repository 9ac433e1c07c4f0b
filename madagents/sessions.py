"""Model-driven sessions: autonomous task reproduction, and replaying a recorded session from its cassette."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import yaml

from madagents.errors import UserInputError
from madagents.llm.cassette import Cassette, HistogramSummary, RecordingClient, ReplayClient, RunSummary
from madagents.llm.client import ModelClient
from madagents.rundir import RunDir

__all__ = ["compare_summaries", "read_task", "record_cassette", "replay_session", "summarize_run", "task_seed"]

SIGNIFICANT_DIGITS = 12


def task_seed(text: str) -> int:
    """The default run seed of a task: fixed by its text, so the same task gives the same events."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") + 1


def read_task(path: Path) -> str:
    if not path.is_file():
        msg = f"task file {path} not found; give a markdown file describing what to simulate and deliver"
        raise UserInputError(msg)
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        msg = f"task file {path} is not UTF-8 text (offset {exc.start}); save it as UTF-8"
        raise UserInputError(msg) from None
    if not text.strip():
        msg = f"task file {path} is empty; describe the process, energy and deliverables"
        raise UserInputError(msg)
    return text


def record_cassette(path: Path, recorder: RecordingClient, cassette: Cassette, run_dirs: list[Path]) -> None:
    """Save ``cassette`` (its header) with the recorded turns and the summary of each run the session made."""
    outputs = [summarize_run(run_dir) for run_dir in run_dirs]
    cassette.model_copy(update={"turns": recorder.turns, "outputs": outputs}).save(path)


def summarize_run(run_dir: Path) -> RunSummary:
    """Outcome and statistics of a run directory: what a replay must reproduce."""
    rundir = RunDir.open(run_dir)
    status = rundir.status()
    summary = RunSummary(state=status.state, error=status.error)
    result_files = sorted(run_dir.glob("steps/*-generate/result.json"))
    if result_files:
        generation = json.loads(result_files[0].read_text())
        summary.n_events, summary.sigma_pb = generation.get("n_events"), generation.get("sigma_pb")
    hists = run_dir / "hists"
    for hist_file in sorted(hists.rglob("*.json")):
        summary.histograms[hist_file.relative_to(hists).with_suffix("").as_posix()] = _histogram_summary(hist_file)
    assumptions = run_dir / "assumptions.yaml"
    if assumptions.is_file():
        summary.assumption_topics = [entry["topic"] for entry in yaml.safe_load(assumptions.read_text()) or []]
    return summary


def _histogram_summary(path: Path) -> HistogramSummary:
    from madagents.validation import load_hist  # noqa: PLC0415 - hist loads slowly

    histogram = load_hist(path)
    values = [float(f"{value:.{SIGNIFICANT_DIGITS}g}") for value in histogram.values().ravel()]
    digest = hashlib.sha256(json.dumps(values).encode()).hexdigest()
    return HistogramSummary(bins=len(values), entries=float(sum(values)), values_sha256=digest)


def compare_summaries(recorded: list[RunSummary], replayed: list[RunSummary]) -> list[str]:
    """Every difference between the recorded and the replayed runs, in words."""
    if len(recorded) != len(replayed):
        return [f"the session made {len(replayed)} runs; the cassette recorded {len(recorded)}"]
    differences = []
    for index, (old, new) in enumerate(zip(recorded, replayed, strict=True), start=1):
        for key in ("state", "n_events", "sigma_pb", "assumption_topics"):
            if getattr(old, key) != getattr(new, key):
                differences.append(f"run {index}: {key} was {getattr(old, key)!r}, now {getattr(new, key)!r}")
        for name in sorted(set(old.histograms) | set(new.histograms)):
            if old.histograms.get(name) != new.histograms.get(name):
                differences.append(
                    f"run {index}: histogram {name} differs ({old.histograms.get(name)} → {new.histograms.get(name)})"
                )
    return differences


SessionRunner = Callable[[Cassette, ModelClient, Path], list[Path]]
"""Re-runs a cassette's session (reproduce or chat) with the given client; returns the run directories made."""


def replay_session(cassette: Cassette, out: Path, run_session: SessionRunner) -> list[str]:
    """Re-run a recorded session with the model's turns from the cassette; returns the differences (none: passed)."""
    client = ReplayClient(cassette)
    run_dirs = run_session(cassette, client, out)
    differences = compare_summaries(cassette.outputs, [summarize_run(run_dir) for run_dir in run_dirs])
    if client.unused_turns():
        differences.append(f"{client.unused_turns()} recorded model turns were never asked for")
    return differences
