"""The Jacobian-edge gate on bin contents: where the m_T distribution falls to half its maximum."""

from __future__ import annotations

from madagents.edge_gate import MIN_EDGE_ENTRIES, half_maximum_edge, judge_edge
from madagents.state import PeakExpectation

EDGES = [float(x) for x in range(0, 4001, 100)]  # 40 bins of 100 GeV
W_PRIME = PeakExpectation(histogram="m_t", particle="W'+", mass_gev=3000.0, width_gev=0.0)


def _jacobian(edge_bin: int, height: float = 10.0) -> list[float]:
    """A rising m_T spectrum up to bin ``edge_bin`` (inclusive), empty above."""
    return [height * (i + 1) / (edge_bin + 1) if i <= edge_bin else 0.0 for i in range(len(EDGES) - 1)]


def test_the_edge_is_where_the_distribution_falls_below_half_its_maximum() -> None:
    values = [1.0, 4.0, 10.0, 6.0, 4.0, 0.0]
    assert half_maximum_edge(values, [0, 1, 2, 3, 4, 5, 6]) == 4  # bin [3, 4) holds 6 ≥ 10 / 2, [4, 5) 4 < 5
    assert half_maximum_edge([0.0, 0.0], [0, 1, 2]) is None


def test_an_edge_at_the_mass_passes() -> None:
    gate = judge_edge("edge m_t", W_PRIME, _jacobian(29), EDGES, overflow=0.0)  # last filled bin [2900, 3000)
    assert gate.passed, gate.message
    assert not gate.inconclusive
    assert "falls to half its maximum at 3000 GeV" in gate.message


def test_an_edge_far_below_the_mass_fails() -> None:
    gate = judge_edge("edge m_t", W_PRIME, _jacobian(19), EDGES, overflow=0.0)  # at 2 TeV for a 3 TeV W′
    assert not gate.passed
    assert "at 2000 GeV" in gate.message
    assert "allowed distance 300 GeV (2 bins or 10% of the mass)" in gate.message


def test_the_allowed_distance_is_two_bins_when_they_are_wider_than_a_tenth_of_the_mass() -> None:
    # 400 GeV bins: the edge at 3.6 TeV lies 1.5 bins from 3 TeV; a tenth of the mass (300 GeV) alone would refuse it
    coarse = [float(x) for x in range(0, 8001, 400)]
    values = [float(i + 1) if i < 9 else 0.0 for i in range(20)]  # last filled bin [3200, 3600)
    gate = judge_edge("edge m_t", W_PRIME, values, coarse, overflow=0.0)
    assert "falls to half its maximum at 3600 GeV" in gate.message
    assert gate.passed, gate.message


def test_many_entries_beyond_the_edge_fail_the_gate() -> None:
    # the half maximum sits at the mass, but a fifth of the events lie far above it: no Jacobian drop
    values = _jacobian(29)
    gate = judge_edge("edge m_t", W_PRIME, values, EDGES, overflow=sum(values) / 4)
    assert not gate.passed
    assert "20.0% of the entries lie beyond that above it" in gate.message


def test_too_few_events_are_inconclusive() -> None:
    values = [0.0] * 40
    values[29] = MIN_EDGE_ENTRIES - 1
    gate = judge_edge("edge m_t", W_PRIME, values, EDGES, overflow=0.0)
    assert gate.inconclusive
    assert gate.passed
    assert gate.message.startswith(f"inconclusive, {MIN_EDGE_ENTRIES - 1} events in m_t")
