"""`replay --statistical` (the default) and `--exact`, and recorded failures, on run summaries and cassettes."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from madagents.llm.cassette import Cassette, HistogramSummary, RunSummary
from madagents.sessions import compare_summaries, expectation_problems, recorded_failures
from tests.replay.scripted import CASSETTES


def _summary(seed: int, mass: float = 91.0, sigma: float = 1500.0) -> RunSummary:
    rng = np.random.default_rng(seed)
    counts, edges = np.histogram(mass + 2.5 * rng.standard_cauchy(4000), bins=30, range=(60, 120))
    values = [float(count) for count in counts]
    digest = hashlib.sha256(json.dumps(values).encode()).hexdigest()
    histogram = HistogramSummary(
        bins=30, entries=sum(values), values_sha256=digest, edges=edges.tolist(), sumw=values, sumw2=values
    )
    return RunSummary(
        state="succeeded",
        n_events=4000,
        sigma_pb=sigma,
        sigma_err_pb=15.0,
        histograms={"m_mumu": histogram},
    )


def test_statistical_replay_accepts_another_seed_and_rejects_a_moved_peak() -> None:
    assert compare_summaries([_summary(1)], [_summary(2, sigma=1510.0)], exact=False) == []
    moved = compare_summaries([_summary(1)], [_summary(3, mass=94.0)], exact=False)
    assert len(moved) == 1
    assert moved[0].startswith("run 1: histogram m_mumu is incompatible: χ²/ndf")


def test_exact_replay_rejects_any_change() -> None:
    differences = compare_summaries([_summary(1)], [_summary(2, sigma=1500.0 * (1 + 1e-7))], exact=True)
    assert [text.split(" was")[0].split(" differs")[0] for text in differences] == [
        "run 1: sigma_pb",
        "run 1: histogram m_mumu",
    ]
    assert compare_summaries([_summary(1)], [_summary(1)], exact=True) == []


def test_a_cassette_without_contents_is_compared_exactly_even_statistically() -> None:
    old, new = _summary(1), _summary(2)
    for summary in (old, new):
        summary.histograms["m_mumu"] = summary.histograms["m_mumu"].model_copy(
            update={"edges": None, "sumw": None, "sumw2": None}
        )
    (difference,) = compare_summaries([old], [new], exact=False)
    assert "re-record it" in difference


def test_a_successful_session_marked_as_an_expected_failure_fails() -> None:
    cassette = Cassette.load(CASSETTES / "student_chat_drell_yan.json")
    assert recorded_failures(cassette) == []
    assert expectation_problems(cassette) == []
    marked = cassette.model_copy(update={"expected_failure": "it should not answer"})
    assert expectation_problems(marked) == [
        "the cassette expects a failure (it should not answer), but the session did not fail"
    ]
