"""The analysis language: observables, combined leptons, Z candidates, overlap removal, cut flow and plot options,
each on hand-built events whose answers are known."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from madagents_tools.analysis import analyze
from madagents_tools.analysis.analysis_spec import AnalysisSpec, PlotOptions
from madagents_tools.analysis.observables import parse_observable
from tests.unit.test_analyze import MUONS, Z_PAIR, analyse, make_request, values_of, write_events, write_generation


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tools resolve request paths against the run directory, their working directory."""
    monkeypatch.chdir(tmp_path)


def filled(result: analyze.Result, name: str) -> dict[float, float]:
    """Non-empty bins by lower edge, rounded to 1e-6."""
    return {round(edge, 6): value for edge, value in values_of(result, name).items()}


def _histogram(name: str, observable: str, bins: int = 100, low: float = 0.0, high: float = 200.0) -> dict[str, Any]:
    return {"name": name, "observable": observable, "bins": bins, "range": [low, high], "label": name}


def test_transverse_mass_of_a_lepton_and_the_missing_pt(tmp_path: Path) -> None:
    # back to back: m_T = sqrt(2 · 40 · 40 · (1 − cos π)) = 80 GeV; at right angles sqrt(2 · 40 · 40) = 56.57 GeV
    electrons = [[(40.0, 0.3, 0.0, -1)], [(40.0, -1.0, 0.0, -1)]]
    result = analyse(
        tmp_path,
        [[], []],
        electrons=electrons,
        met=[(40.0, math.pi), (40.0, math.pi / 2)],
        objects={"electrons": {"collection": "electron"}},
        histograms=[_histogram("mt", "mt(electrons[0])", bins=200)],
    )
    assert filled(result, "mt") == {80.0: 1.0, 56.0: 1.0}


def test_angular_observables(tmp_path: Path) -> None:
    muons = [[(50.0, 0.5, 0.1, 1), (40.0, -0.5, 0.1 + 2.5, -1)]]
    histograms = [
        _histogram("dr", "dr(muons[0], muons[1])", bins=400, high=4.0),
        _histogram("dphi", "dphi(muons[0], muons[1])", bins=400, high=4.0),
        _histogram("deta", "deta(muons[0], muons[1])", bins=400, high=4.0),
        _histogram("dphi_met", "dphi(muons[1], met)", bins=400, high=4.0),
    ]
    result = analyse(tmp_path, muons, met=[(30.0, -2.0)], histograms=histograms)
    # Δφ(μ1, MET) = |2.6 − (−2.0)| = 4.6 → 2π − 4.6 = 1.683
    expected = {"dr": math.hypot(1.0, 2.5), "dphi": 2.5, "deta": 1.0, "dphi_met": 2 * math.pi - 4.6}
    for name, value in expected.items():
        assert filled(result, name) == {math.floor(value * 100) / 100: 1.0}, name


def test_scalar_sums_and_arithmetic(tmp_path: Path) -> None:
    muons = [[(50.0, 0.0, 0.0, 1), (30.0, 1.0, 2.0, -1)]]
    jets = [[(100.0, 0.0, 3.0, 0), (60.0, 1.5, 1.0, 0), (25.0, -1.0, -1.0, 0)]]
    histograms = [
        _histogram("ht", "ht(jets)", bins=500, high=500),
        _histogram("st", "st(muons[0], muons[1], jets[0], jets[1])", bins=500, high=500),
        _histogram("meff", "meff(jets, muons)", bins=500, high=500),
        _histogram("sum", "pt(muons[0]) + 2 * pt(jets[2]) - met() / 2", bins=500, high=500),
    ]
    result = analyse(
        tmp_path,
        muons,
        jets=jets,
        met=[(20.0, 0.0)],
        objects={**MUONS, "jets": {"collection": "jet"}},
        histograms=histograms,
    )
    assert values_of(result, "ht") == {185.0: 1.0}
    assert values_of(result, "st") == {240.0: 1.0}
    assert values_of(result, "meff") == {285.0: 1.0}
    assert values_of(result, "sum") == {90.0: 1.0}


def test_combined_leptons_and_z_candidates_closest_to_the_z_mass(tmp_path: Path) -> None:
    # e⁺e⁻ at 91.2 GeV, μ⁺μ⁻ at 60 GeV, and a same-sign μ pair that must never pair
    electrons = [[(45.6, 0.0, 0.0, 1), (45.6, 0.0, math.pi, -1)], [(45.6, 0.0, 0.0, 1), (45.6, 0.0, math.pi, 1)]]
    muons = [[(30.0, 1.0, 0.5, 1), (30.0, 1.0, 0.5 + math.pi, -1)], [(30.0, 1.0, 0.5, 1), (30.0, 1.0, 3.6, -1)]]
    objects = {
        "muons": {"collection": "muon"},
        "electrons": {"collection": "electron"},
        "leptons": {"combine": ["electrons", "muons"]},
        "zs": {"z_candidates": "leptons"},
    }
    histograms = [
        _histogram("n_lep", "count(leptons)", bins=10, high=10),
        _histogram("n_z", "count(zs)", bins=10, high=10),
        _histogram("m_z1", "mass(zs[0])", bins=200),
        _histogram("m_z2", "mass(zs[1])", bins=200),
        _histogram("m_4l", "mass(leptons[0:4])", bins=400, high=400),
    ]
    result = analyse(tmp_path, muons, electrons=electrons, objects=objects, histograms=histograms)
    assert values_of(result, "n_lep") == {4.0: 2.0}
    # event 2: the electrons have the same sign, so only the μ⁺μ⁻ pair is a candidate
    assert values_of(result, "n_z") == {2.0: 1.0, 1.0: 1.0}
    assert filled(result, "m_z1") == {91.0: 1.0, 59.0: 1.0}  # event 2: Δφ = 3.1, m_μμ = 59.98 GeV
    assert filled(result, "m_z2") == {60.0: 1.0}
    assert sum(values_of(result, "m_4l").values()) == 2.0


def test_overlap_removal_drops_jets_near_muons(tmp_path: Path) -> None:
    muons = [[(50.0, 0.0, 0.0, 1)]]
    jets = [[(80.0, 0.1, 0.1, 0), (60.0, 1.0, 0.0, 0), (40.0, 0.0, 0.5, 0)]]  # ΔR = 0.14, 1.0, 0.5
    objects = {**MUONS, "jets": {"collection": "jet", "overlap_removal": [{"objects": "muons", "dr": 0.4}]}}
    histograms = [_histogram("n", "count(jets)", bins=10, high=10), _histogram("pt", "pt(jets[0])")]
    result = analyse(tmp_path, muons, jets=jets, objects=objects, histograms=histograms)
    assert values_of(result, "n") == {2.0: 1.0}
    assert values_of(result, "pt") == {60.0: 1.0}


def test_cut_flow_counts_events_and_cross_section_after_each_cut(tmp_path: Path) -> None:
    third = (20.0, 1.0, 1.0, 1)
    cuts = [{"count": "muons", "min": 2}, {"observable": "mass(muons[0], muons[1])", "min": 80, "max": 100}]
    result = analyse(tmp_path, [Z_PAIR[:1], Z_PAIR, [*Z_PAIR, third], [(30.0, 0.0, 0.0, 1), third]], cuts=cuts)
    rows = [(row.cut, row.events, row.sigma_pb) for row in result.cutflow]
    assert rows == [
        ("all events", 4, 1500.0),
        ("count(muons) ≥ 2", 3, 1125.0),
        ("80 ≤ mass(muons[0], muons[1]) < 100", 2, 750.0),
    ]
    assert result.cutflow[-1].sigma_pb == pytest.approx(result.fiducial_sigma_pb)


def test_cross_section_normalisation_log_axis_and_flow_bins(tmp_path: Path) -> None:
    # 1000 events at 91 GeV, 1 at 70 GeV: three decades → a log axis; 2 above the range, 1 below
    low, high = [(35.0, 0.0, 0.0, 1), (35.0, 0.0, math.pi, -1)], [(100.0, 0.0, 0.0, 1), (100.0, 0.0, math.pi, -1)]
    below = [(20.0, 0.0, 0.0, 1), (20.0, 0.0, math.pi, -1)]
    muons = [Z_PAIR] * 1000 + [low, high, high, below]
    write_events(tmp_path / "events.root", muons)
    write_generation(tmp_path / "generation.json", len(muons))
    request = make_request(tmp_path, histograms=[_histogram("m", "mass(muons[0], muons[1])", 60, 60, 120)])
    plots = PlotOptions(normalisation="cross_section", luminosity_fb=140)
    request = request.model_copy(update={"analysis": request.analysis.model_copy(update={"plots": plots})})
    result = analyze.run(request)
    record = result.histograms[0]
    assert (record.underflow, record.overflow, record.entries) == (1.0, 2.0, 1004.0)
    assert "1001 in range; 1 below, 2 above" in record.legend
    assert record.scale == pytest.approx(1500.0 / 1004)
    assert record.log_y
    with Image.open(record.png_path) as image:
        shown = json.loads(image.text["Description"])  # type: ignore[attr-defined]
    assert shown["ylabel"] == "d$\\sigma$ / dm [pb / GeV]"
    assert (shown["log_y"], shown["underflow"], shown["overflow"]) == (True, 1.0, 2.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mas(muons[0])", r"unknown observable function 'mas' .*did you mean 'mass'\?"),
        ("pt(muons[0]) + eta(muons[0])", r"adds or subtracts quantities of different units \(GeV and none\)"),
        ("dr(muons[0])", r"dr\(\) takes two objects"),
        ("mass(muons)", r"mass\(\) takes one or more objects"),
        ("mt(muons[0]", r"cannot read observable"),
        ("__import__('os')", r"unknown observable function '__import__'"),
    ],
)
def test_bad_observables_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_observable(text)


def test_units_follow_the_arithmetic() -> None:
    assert parse_observable("mt(electrons[0])").unit == "GeV"
    assert parse_observable("pt(jets[0]) / ht(jets)").unit == ""
    assert parse_observable("mass(a[0], a[1]) * mass(b[0], b[1])").unit == "GeV²"
    assert parse_observable("sqrt(met() * met())").unit == "GeV"


def _spec(objects: dict[str, Any], observable: str = "count(muons)") -> AnalysisSpec:
    return AnalysisSpec.model_validate({"objects": objects, "histograms": [_histogram("h", observable)]})


def test_unknown_objects_get_a_did_you_mean() -> None:
    with pytest.raises(ValueError, match=r"undefined objects 'muon' \(did you mean 'muons'\?\)"):
        _spec(MUONS, "pt(muon[0])")


def test_objects_built_in_a_circle_are_refused() -> None:
    objects = {
        "a": {"collection": "jet", "overlap_removal": [{"objects": "b"}]},
        "b": {"collection": "jet", "overlap_removal": [{"objects": "a"}]},
    }
    with pytest.raises(ValueError, match="in a circle"):
        _spec(objects, "count(a)")


def test_z_candidates_need_leptons() -> None:
    with pytest.raises(ValueError, match=r"combines 'jets', which are not leptons"):
        _spec({"jets": {"collection": "jet"}, "zs": {"z_candidates": "jets"}}, "count(zs)")


def test_luminosity_normalisation_needs_a_luminosity() -> None:
    with pytest.raises(ValueError, match=r"needs plots\.luminosity_fb"):
        AnalysisSpec.model_validate(
            {
                "objects": MUONS,
                "histograms": [_histogram("h", "count(muons)")],
                "plots": {"normalisation": "luminosity"},
            }
        )
