"""Model-driven sessions: autonomous task reproduction, and replaying a recorded session from its cassette."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import yaml

from madagents.chat import OUT_OF_TURNS
from madagents.errors import UserInputError
from madagents.llm.cassette import Cassette, HistogramSummary, RecordingClient, ReplayClient, RunSummary
from madagents.llm.client import ModelClient
from madagents.rundir import RunDir

__all__ = [
    "compare_summaries",
    "expectation_problems",
    "read_task",
    "record_cassette",
    "recorded_failures",
    "replay_session",
    "summarize_run",
    "task_seed",
]

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
        summary.sigma_err_pb = generation.get("sigma_err_pb")
    analyses = sorted(run_dir.glob("steps/*-analyze/result.json"))
    if analyses:
        analysis = json.loads(analyses[0].read_text())
        summary.fiducial_sigma_pb = analysis.get("fiducial_sigma_pb")
        summary.fiducial_sigma_err_pb = analysis.get("fiducial_sigma_err_pb")
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
    summary = HistogramSummary(bins=len(values), entries=float(sum(values)), values_sha256=digest)
    if histogram.ndim == 1:  # the contents, so that a replay on another platform can be compared statistically
        variances = histogram.variances()
        summary.edges = [float(edge) for edge in histogram.axes[0].edges]
        summary.sumw = [float(value) for value in histogram.values()]
        summary.sumw2 = summary.sumw if variances is None else [float(value) for value in variances]
    return summary


def compare_summaries(recorded: list[RunSummary], replayed: list[RunSummary], *, exact: bool = True) -> list[str]:
    """Every difference between the recorded and the replayed runs, in words.

    ``exact``: σ and histogram contents must be identical (the same platform and versions). Otherwise they must be
    statistically compatible (:mod:`madagents.compare`); outcomes, event counts and decisions stay exact.
    """
    if len(recorded) != len(replayed):
        return [f"the session made {len(replayed)} runs; the cassette recorded {len(recorded)}"]
    differences = []
    for index, (old, new) in enumerate(zip(recorded, replayed, strict=True), start=1):
        for key in ("state", "n_events", "assumption_topics", *(("sigma_pb",) if exact else ())):
            if getattr(old, key) != getattr(new, key):
                differences.append(f"run {index}: {key} was {getattr(old, key)!r}, now {getattr(new, key)!r}")
        if exact:
            differences += [f"run {index}: {text}" for text in _exact_histogram_differences(old, new)]
        else:
            from madagents.compare.summaries import statistical_differences  # noqa: PLC0415 - scipy loads slowly

            differences += [f"run {index}: {text}" for text in statistical_differences(old, new)]
    return differences


def _exact_histogram_differences(old: RunSummary, new: RunSummary) -> list[str]:
    differences = []
    for name in sorted(set(old.histograms) | set(new.histograms)):
        was, now = old.histograms.get(name), new.histograms.get(name)
        if (was and was.exact_part()) != (now and now.exact_part()):
            differences.append(f"histogram {name} differs ({was and was.exact_part()} → {now and now.exact_part()})")
    return differences


def recorded_failures(cassette: Cassette) -> list[str]:
    """How the recorded session failed: an endpoint error, a failed run, or a tutor that never answered."""
    failures = [f"the model endpoint failed ({turn.role}): {turn.error}" for turn in cassette.turns if turn.error]
    failures += [
        f"run {index} {summary.state}: {summary.error}"
        for index, summary in enumerate(cassette.outputs, start=1)
        if summary.state != "succeeded"
    ]
    if cassette.entry == "chat" and cassette.turns and cassette.turns[-1].response.get("tool_calls"):
        failures.append("the tutor never answered the last question: its last turn was a tool call")
    stopped = max(  # each request carries the history so far: the latest holds every earlier stop
        (
            sum(
                1
                for message in turn.request.get("messages", [])
                if message.get("type") == "ai" and str(message.get("content", "")).startswith(OUT_OF_TURNS)
            )
            for turn in cassette.turns
        ),
        default=0,
    )
    if stopped:
        failures.append(f"the tutor ran out of turns without an answer {stopped} time(s) before the last question")
    return failures


def expectation_problems(cassette: Cassette) -> list[str]:
    """A recorded failure fails the replay unless the cassette marks it expected; a marked one must fail."""
    failures = recorded_failures(cassette)
    if cassette.expected_failure is None:
        hint = 'if it should, add "expected_failure": "why" to the cassette'
        return [f"the recorded session failed: {failure} ({hint})" for failure in failures]
    if not failures:
        return [f"the cassette expects a failure ({cassette.expected_failure}), but the session did not fail"]
    return []


SessionRunner = Callable[[Cassette, ModelClient, Path], list[Path]]
"""Re-runs a cassette's session (reproduce or chat) with the given client; returns the run directories made."""


def replay_session(cassette: Cassette, out: Path, run_session: SessionRunner, *, exact: bool = False) -> list[str]:
    """Re-run a recorded session with the model's turns from the cassette; returns the differences (none: passed)."""
    client = ReplayClient(cassette)
    run_dirs = run_session(cassette, client, out)
    replayed = [summarize_run(run_dir) for run_dir in run_dirs]
    differences = compare_summaries(cassette.outputs, replayed, exact=exact) + expectation_problems(cassette)
    if client.unused_turns():
        differences.append(f"{client.unused_turns()} recorded model turns were never asked for")
    return differences
