"""``--chunks K``: generation in K seeded chunks on a Dask cluster, merged into one sample.

The chunk seeds derive from the run seed and K, so the histograms are the same whatever the number of workers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.rundir import RunDir
from madagents.state import Plan
from madagents_tools.generation import merge_samples, pythia8_generate
from tests.conftest import DRELL_YAN

pytestmark = pytest.mark.slow

N_EVENTS, CHUNKS = 200, 2


def _run(out: Path, monkeypatch: pytest.MonkeyPatch, workers: int, verify_events: int = 1000) -> Path:
    monkeypatch.setenv("MADAGENTS_DASK__WORKERS", str(workers))
    monkeypatch.setenv("MADAGENTS_VERIFY_EVENTS", str(verify_events))
    result = CliRunner().invoke(
        app, ["run", str(DRELL_YAN), "--events", str(N_EVENTS), "--chunks", str(CHUNKS), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("chunks")
    with pytest.MonkeyPatch.context() as monkeypatch:
        # the second run's reproduction check regenerates the first 60 events of each chunk only
        return _run(base / "two_workers", monkeypatch, 2), _run(base / "one_worker", monkeypatch, 1, 60)


def test_the_plan_has_one_seeded_step_per_chunk_and_a_merge(runs: tuple[Path, Path]) -> None:
    plan = RunDir(runs[0]).read_model("plan.json", Plan)
    chunks = [request for _, request in plan.steps_of(pythia8_generate.Request)]
    assert [request.n_events for request in chunks] == [100, 100]
    assert len({request.seed for request in chunks}) == CHUNKS
    merge_step, merge = plan.steps_of(merge_samples.Request)[0]
    assert merge.chunk_results == [
        f"steps/{step.id}/result.json" for step, _ in plan.steps_of(pythia8_generate.Request)
    ]
    assert merge_step.needs == [step.id for step, _ in plan.steps_of(pythia8_generate.Request)]
    assert plan.steps[-1].needs == [merge_step.id]
    assert json.loads((runs[0] / "run.json").read_text())["sandbox"] == "dask"


def test_the_merged_sample_holds_every_event_with_the_combined_cross_section(runs: tuple[Path, Path]) -> None:
    run_dir = runs[0]
    plan = RunDir(run_dir).read_model("plan.json", Plan)
    merge_step, _ = plan.steps_of(merge_samples.Request)[0]
    merged = pythia8_generate.Result.model_validate_json((run_dir / f"steps/{merge_step.id}/result.json").read_text())
    chunks = [
        pythia8_generate.Result.model_validate_json((run_dir / f"steps/{step.id}/result.json").read_text())
        for step, _ in plan.steps_of(pythia8_generate.Request)
    ]
    assert merged.n_events == N_EVENTS
    assert merged.n_tried == sum(chunk.n_tried for chunk in chunks)
    assert merged.sigma_pb is not None
    assert min(c.sigma_pb or 0 for c in chunks) <= merged.sigma_pb <= max(c.sigma_pb or 0 for c in chunks)
    assert RunDir(run_dir).status().state == "succeeded"


def test_the_number_of_workers_does_not_change_the_histograms(runs: tuple[Path, Path]) -> None:
    two, one = runs
    assert (two / "hists/m_mumu.json").read_text() == (one / "hists/m_mumu.json").read_text()


def test_the_chunks_ran_at_the_same_time(runs: tuple[Path, Path]) -> None:
    """The dispatcher sends both chunk steps at once (LangGraph Send); both start before either ends."""
    events = [json.loads(line) for line in (runs[0] / "trace.jsonl").read_text().splitlines()]
    calls = [event for event in events if event["event"] == "tool_call" and "generate_c" in event["step_dir"]]
    intervals = [(call["time"] - call["seconds"], call["time"]) for call in calls]
    assert len(intervals) == CHUNKS
    first, second = sorted(intervals)
    assert second[0] < first[1], intervals


def test_the_reproduction_check_compares_every_chunk_in_full_or_its_first_events(runs: tuple[Path, Path]) -> None:
    full, prefix = ((run / "report.md").read_text() for run in runs)
    assert f"identical histograms and events from all {N_EVENTS} events" in full
    assert f"the first 60 of {N_EVENTS} events identical in every branch" in prefix
