"""The Jacobian-edge gate: a charged resonance decaying to ℓν shows no mass peak, but an edge in m_T at its mass.

For X → ℓν the transverse mass m_T(ℓ, MET) = sqrt(2 pT MET (1 − cos Δφ)) never exceeds m_X for an on-shell X at
rest in the transverse plane; its distribution rises to a Jacobian peak just below m_X and drops sharply above
(UA1, Phys. Lett. B 122 (1983) 103; PDG review "Kinematics", §49.6). The width, the resonance's pT and the
detector smear the drop over a few Γ. The gate places the edge where the distribution falls to half its maximum,
read from the histogram JSON the analysis wrote.
"""

from __future__ import annotations

from pathlib import Path

from madagents.run_reads import load_run_hist
from madagents.state import GateResult, PeakExpectation, Plan
from madagents_tools.analysis import analyze

__all__ = ["MIN_EDGE_ENTRIES", "gate_edges", "half_maximum_edge", "judge_edge"]

MIN_EDGE_ENTRIES = 30
"""In-range entries below which the half maximum is a fluctuation: the gate is inconclusive, not failed."""
EDGE_BINS = 2
"""The edge may lie this many bins from the mass: the half-maximum point of a smeared drop is known to a bin or two,"""
EDGE_FRACTION = 0.1
"""or this share of the mass, when larger: the width, the resonance's pT and the detector's MET smear the drop."""
ABOVE_SHARE_MAX = 0.1
"""At most this share of the entries (overflow included) may lie beyond the allowed distance above the mass."""


def half_maximum_edge(values: list[float], edges: list[float]) -> float | None:
    """The upper edge of the highest bin whose content is at least half the largest bin's; None if all are empty."""
    highest = max(values, default=0.0)
    if highest <= 0:
        return None
    last = max(index for index, value in enumerate(values) if value >= highest / 2)
    return edges[last + 1]


def gate_edges(
    run_dir: Path, plan: Plan, analysis: analyze.Result, label: str = "", step_id: str = ""
) -> list[GateResult]:
    records = {record.name: record for record in analysis.histograms}
    gates = []
    for edge in plan.expectations.edges:
        if edge.steps is not None and step_id not in edge.steps:
            continue  # another sample's resonance
        gate = f"edge {edge.histogram}{label}"
        record = records.get(edge.histogram)
        if record is None:
            gates.append(GateResult(gate=gate, passed=False, message=f"histogram {edge.histogram} is missing"))
            continue
        try:
            histogram = load_run_hist(run_dir, record.json_path)
        except (OSError, ValueError) as exc:
            gates.append(GateResult(gate=gate, passed=False, message=f"{record.json_path}: {exc}"))
            continue
        values = [float(value) for value in histogram.values()]
        overflow = float(histogram.values(flow=True)[-1])
        gates.append(judge_edge(gate, edge, values, [float(x) for x in histogram.axes[0].edges], overflow))
    return gates


def judge_edge(
    gate: str, edge: PeakExpectation, values: list[float], edges: list[float], overflow: float
) -> GateResult:
    """The gate on one histogram's bin contents (``values`` over ``edges``) and overflow."""
    target = f"the Jacobian edge of m_T at m({edge.particle}) = {edge.mass_gev:.4g} GeV"
    entries = sum(values)
    if entries < MIN_EDGE_ENTRIES:
        message = (
            f"inconclusive, {entries:g} events in {edge.histogram}: fewer than {MIN_EDGE_ENTRIES} cannot locate "
            f"{target}; generate more events"
        )
        return GateResult(gate=gate, passed=True, message=message, inconclusive=True)
    found = half_maximum_edge(values, edges)
    if found is None:  # only negative weights
        return GateResult(gate=gate, passed=False, message=f"{edge.histogram} has no positive bin")
    allowed = max(EDGE_BINS * (edges[-1] - edges[0]) / len(values), EDGE_FRACTION * edge.mass_gev)
    beyond = sum(value for value, low in zip(values, edges[:-1], strict=True) if low >= edge.mass_gev + allowed)
    share = (beyond + overflow) / (entries + overflow)
    message = (
        f"{edge.histogram} falls to half its maximum at {found:.4g} GeV; {target}, allowed distance "
        f"{allowed:.3g} GeV ({EDGE_BINS} bins or {EDGE_FRACTION:.0%} of the mass); {share:.1%} of the entries lie "
        f"beyond that above it (at most {ABOVE_SHARE_MAX:.0%})"
    )
    passed = abs(found - edge.mass_gev) <= allowed and share <= ABOVE_SHARE_MAX
    return GateResult(gate=gate, passed=passed, message=message)
