"""tools/analysis/analyze.py on small hand-built event files whose answers are known."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import hist
import numpy as np
import pytest
import uhi.io.json
import uproot
from PIL import Image

from madagents_tools.analysis import analyze
from madagents_tools.analysis.analysis_spec import parse_observable
from madagents_tools.analysis.unbinned import read_values
from madagents_tools.generation import pythia8_generate
from madagents_tools.io import event_io

MUON_MASS = 0.10566
Z_PAIR = [(45.6, 0.0, 0.0, 1), (45.6, 0.0, math.pi, -1)]
"""Two back-to-back muons of pT 45.6 GeV: m = 91.2 GeV (plus a negligible muon-mass term)."""
LOW_PAIR = [(30.0, 0.0, 0.0, 1), (30.0, 0.0, math.pi, -1)]
"""m = 60.0 GeV."""
MUONS = {"muons": {"collection": "muon"}}
M_MUMU = {
    "name": "m_mumu",
    "observable": "mass(muons[0], muons[1])",
    "bins": 60,
    "range": [60, 120],
    "label": "$m_{\\mu\\mu}$",
}


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tools resolve request paths against the run directory, their working directory."""
    monkeypatch.chdir(tmp_path)


Row = tuple[float, ...]
"""One object: (pt, eta, phi, charge[, iso]) for leptons, (pt, eta, phi, btag) for jets."""


def _jagged(rows: Sequence[Sequence[Row]], column: int, dtype: type, default: float = 0.0) -> ak.Array:
    flat = [obj[column] if column < len(obj) else default for event in rows for obj in event]
    return ak.unflatten(np.asarray(flat, dtype=dtype), [len(event) for event in rows])


def _leptons(rows: Sequence[Sequence[Row]], mass: float) -> ak.Array:
    fields = {
        "pt": _jagged(rows, 0, np.float64),
        "eta": _jagged(rows, 1, np.float64),
        "phi": _jagged(rows, 2, np.float64),
    }
    fields["mass"] = ak.full_like(fields["pt"], mass)
    return ak.zip({**fields, "charge": _jagged(rows, 3, np.int32), "iso": _jagged(rows, 4, np.float64)})


def _jets(rows: Sequence[Sequence[Row]]) -> ak.Array:
    fields = {
        "pt": _jagged(rows, 0, np.float64),
        "eta": _jagged(rows, 1, np.float64),
        "phi": _jagged(rows, 2, np.float64),
    }
    return ak.zip({**fields, "mass": ak.full_like(fields["pt"], 5.0), "btag": _jagged(rows, 3, np.bool_)})


def write_events(
    path: Path,
    muons: Sequence[Sequence[Row]],
    electrons: Sequence[Sequence[Row]] | None = None,
    jets: Sequence[Sequence[Row]] | None = None,
    weights: list[float] | None = None,
    met: Sequence[tuple[float, float]] | None = None,
) -> Path:
    """The TTree layout the generation tool writes (branches muon_pt, ..., nmuon, met_pt)."""
    n = len(muons)
    branches: dict[str, Any] = {
        "event_number": np.arange(n, dtype=np.int64),
        "weight": np.asarray(weights or [1.0] * n, dtype=np.float64),
        "mhat": np.full(n, 91.0),
        "muon": _leptons(muons, MUON_MASS),
        "electron": _leptons(electrons or [[] for _ in range(n)], 0.000511),
        "met_pt": np.asarray([pt for pt, _ in met]) if met else np.linspace(0.0, 10.0, n),
        "met_phi": np.asarray([phi for _, phi in met]) if met else np.zeros(n),
    }
    if jets is not None:
        branches["jet"] = _jets(jets)
    types = {
        name: ak.type(value).content if isinstance(value, ak.Array) else value.dtype for name, value in branches.items()
    }
    with uproot.recreate(path) as file:
        file.mktree("events", types).extend(branches)
    return path


def write_generation(path: Path, n_events: int, *, ok: bool = True) -> Path:
    result = pythia8_generate.Result(ok=ok, n_events=n_events, sigma_pb=1500.0, sigma_err_pb=20.0)
    path.write_text(result.model_dump_json())
    return path


def make_request(
    tmp_path: Path,
    objects: dict[str, Any] | None = None,
    cuts: list[dict[str, Any]] | None = None,
    histograms: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> analyze.Request:
    return analyze.Request.model_validate(
        {
            "events_path": "events.root",
            "generation_result_path": "generation.json",
            "out_dir": "hists",
            "process_label": "Pythia8 pp → Z/γ* → μμ, 13 TeV",
            "analysis": {"objects": objects or MUONS, "cuts": cuts or [], "histograms": histograms or [M_MUMU]},
            **fields,
        }
    )


def analyse(tmp_path: Path, muons: Sequence[Sequence[Row]], **options: Any) -> analyze.Result:
    """Write ``muons`` (and the keyword collections) to an events file and analyse it."""
    files = {key: options.pop(key) for key in ("electrons", "jets", "weights", "met") if key in options}
    write_events(tmp_path / "events.root", muons, **files)
    write_generation(tmp_path / "generation.json", len(muons))
    result = analyze.run(make_request(tmp_path, **options))
    assert result.ok, result.error
    return result


def load(path: str) -> hist.Hist[Any]:
    return hist.Hist(json.loads(Path(path).read_text(), object_hook=uhi.io.json.object_hook))


def values_of(result: analyze.Result, name: str) -> dict[float, float]:
    """Non-empty bins of a written histogram: lower edge -> sum of weights."""
    record = next(record for record in result.histograms if record.name == name)
    histogram = load(record.json_path)
    edges = histogram.axes[0].edges
    return {float(edges[i]): float(value) for i, value in enumerate(histogram.values()) if value}


def test_pair_masses_land_in_their_bins(tmp_path: Path) -> None:
    result = analyse(tmp_path, [Z_PAIR, LOW_PAIR, Z_PAIR[:1], Z_PAIR])
    assert values_of(result, "m_mumu") == {91.0: 2.0, 60.0: 1.0}
    record = result.histograms[0]
    assert (record.entries, record.peak) == (3.0, 91.5)
    assert (result.n_events, result.n_selected, result.n_generated) == (4, 4, 4)
    assert result.warnings == [
        "m_mumu: 1 of 4 selected events lack the objects of mass(muons[0], muons[1]) and are not in the histogram"
    ]


def test_pt_and_eta_cuts_drop_objects_and_keep_pt_order(tmp_path: Path) -> None:
    # stored out of pT order on purpose: muons[i] must still be the i-th hardest selected muon
    event = [(30.0, -1.0, 0.0, 1), (20.0, 0.0, 0.0, 1), (40.0, 2.5, 0.0, 1), (50.0, 0.0, 0.0, -1)]
    objects = {"muons": {"collection": "muon", "pt_min_gev": 25, "abs_eta_max": 2.4}}
    histograms = [
        {"name": "n", "observable": "count(muons)", "bins": 5, "range": [0, 5], "label": "N"},
        {"name": "pt0", "observable": "pt(muons[0])", "bins": 100, "range": [0, 100], "label": "pT"},
        {"name": "pt1", "observable": "pt(muons[1])", "bins": 100, "range": [0, 100], "label": "pT"},
        {"name": "eta1", "observable": "eta(muons[1])", "bins": 10, "range": [-2.5, 2.5], "label": "eta"},
    ]
    result = analyse(tmp_path, [event], objects=objects, histograms=histograms)
    assert values_of(result, "n") == {2.0: 1.0}
    assert values_of(result, "pt0") == {50.0: 1.0}
    assert values_of(result, "pt1") == {30.0: 1.0}
    assert values_of(result, "eta1") == {-1.0: 1.0}


def test_isolation_and_btag_filters(tmp_path: Path) -> None:
    muons = [[(50.0, 0.0, 0.0, 1, 0.30), (40.0, 0.0, 1.0, -1, 0.05)]]
    jets = [[(80.0, 0.0, 0.0, 0), (60.0, 0.0, 1.0, 1), (30.0, 0.0, 2.0, 1)]]
    objects = {
        "muons": {"collection": "muon", "isolation_max": 0.15},
        "bjets": {"collection": "jet", "btag": True},
        "light": {"collection": "jet", "btag": False},
    }
    histograms = [
        {"name": "mu_pt", "observable": "pt(muons[0])", "bins": 100, "range": [0, 100], "label": "pT"},
        {"name": "b_pt", "observable": "pt(bjets[0])", "bins": 100, "range": [0, 100], "label": "pT"},
        {"name": "n_b", "observable": "count(bjets)", "bins": 5, "range": [0, 5], "label": "N"},
        {"name": "l_pt", "observable": "pt(light[0])", "bins": 100, "range": [0, 100], "label": "pT"},
    ]
    result = analyse(tmp_path, muons, jets=jets, objects=objects, histograms=histograms)
    assert values_of(result, "mu_pt") == {40.0: 1.0}
    assert values_of(result, "b_pt") == {60.0: 1.0}
    assert values_of(result, "n_b") == {2.0: 1.0}
    assert values_of(result, "l_pt") == {80.0: 1.0}


def test_count_cut(tmp_path: Path) -> None:
    third = (20.0, 1.0, 1.0, 1)
    result = analyse(tmp_path, [Z_PAIR[:1], Z_PAIR, [*LOW_PAIR, third]], cuts=[{"count": "muons", "min": 2, "max": 2}])
    assert result.n_selected == 1
    assert values_of(result, "m_mumu") == {91.0: 1.0}


def test_opposite_charge_of_one_collection(tmp_path: Path) -> None:
    same_sign = [(45.6, 0.0, 0.0, 1), (45.6, 0.0, math.pi, 1)]
    result = analyse(tmp_path, [Z_PAIR, same_sign, Z_PAIR[:1], LOW_PAIR], cuts=[{"opposite_charge": ["muons"]}])
    assert result.n_selected == 2
    assert values_of(result, "m_mumu") == {91.0: 1.0, 60.0: 1.0}


def test_opposite_charge_of_two_collections(tmp_path: Path) -> None:
    muons = [[(40.0, 0.0, 0.0, 1)], [(40.0, 0.0, 0.0, 1)], [(40.0, 0.0, 0.0, -1)]]
    electrons = [[(35.0, 0.0, 2.0, -1), (30.0, 0.0, 1.0, 1)], [(35.0, 0.0, 2.0, 1)], []]
    objects = {"muons": {"collection": "muon"}, "electrons": {"collection": "electron"}}
    histograms = [
        {"name": "m_emu", "observable": "mass(electrons[0], muons[0])", "bins": 10, "range": [0, 200], "label": "m"}
    ]
    result = analyse(
        tmp_path,
        muons,
        electrons=electrons,
        objects=objects,
        histograms=histograms,
        cuts=[{"opposite_charge": ["electrons", "muons"]}],
    )
    assert result.n_selected == 1  # only the first event: leading e⁻ with μ⁺; the second is e⁺μ⁺, the third has no e
    assert result.histograms[0].entries == 1.0


def test_range_cut_needs_a_defined_value_inside_min_max(tmp_path: Path) -> None:
    cuts = [{"observable": "mass(muons[0], muons[1])", "min": 80, "max": 100}]
    result = analyse(tmp_path, [Z_PAIR, LOW_PAIR, Z_PAIR[:1], Z_PAIR], cuts=cuts)
    assert result.n_selected == 2
    assert values_of(result, "m_mumu") == {91.0: 2.0}


def test_fiducial_cross_section_of_unit_weights(tmp_path: Path) -> None:
    result = analyse(tmp_path, [Z_PAIR] * 4 + [Z_PAIR[:1]] * 6, cuts=[{"count": "muons", "min": 2}])
    efficiency_err = math.sqrt(0.4 * 0.6 / 10)
    assert result.fiducial_sigma_pb == pytest.approx(600.0)
    assert result.fiducial_sigma_err_pb == pytest.approx(math.hypot(0.4 * 20.0, 1500.0 * efficiency_err))


def test_fiducial_cross_section_of_weighted_events(tmp_path: Path) -> None:
    result = analyse(
        tmp_path,
        [Z_PAIR, Z_PAIR, Z_PAIR[:1], Z_PAIR[:1]],
        weights=[2.0, 2.0, 1.0, 1.0],
        cuts=[{"count": "muons", "min": 2}],
    )
    # ε = 4/6; var(ε) = (F² Σw²_pass + P² Σw²_fail) / (P + F)⁴ with P = 4, F = 2
    efficiency, efficiency_err = 4 / 6, math.sqrt((2**2 * 8 + 4**2 * 2) / 6**4)
    assert result.n_selected == 2
    assert result.fiducial_sigma_pb == pytest.approx(1500.0 * efficiency)
    assert result.fiducial_sigma_err_pb == pytest.approx(math.hypot(efficiency * 20.0, 1500.0 * efficiency_err))
    assert result.histograms[0].entries == 4.0


def test_max_events_reads_a_prefix(tmp_path: Path) -> None:
    result = analyse(tmp_path, [Z_PAIR] * 3 + [LOW_PAIR] * 7, max_events=4)
    assert (result.n_events, result.n_generated) == (4, 10)
    assert values_of(result, "m_mumu") == {91.0: 3.0, 60.0: 1.0}
    assert result.fiducial_sigma_pb == pytest.approx(1500.0)  # efficiency over the events analysed
    assert "4 events read (10 generated)" in result.histograms[0].legend
    assert result.warnings == []


def test_batches_of_a_few_events_give_the_one_batch_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    muons = [Z_PAIR, Z_PAIR[:1], LOW_PAIR, [], Z_PAIR] * 5
    options: dict[str, Any] = {
        "weights": [1.0, 2.0, 0.5, 1.0, 3.0] * 5,
        "cuts": [{"count": "muons", "min": 2}, {"opposite_charge": ["muons"]}],
        "max_events": 23,
    }
    whole = analyse(tmp_path, muons, **options)
    whole_hist = Path(whole.histograms[0].json_path).read_text()
    batches: list[int] = []

    def in_batches_of_4(*args: Any, **kwargs: Any) -> Any:
        for batch in event_io.iterate_events(*args, **kwargs, batch_events=4):
            batches.append(len(batch))
            yield batch

    monkeypatch.setattr(analyze, "iterate_events", in_batches_of_4)
    batched = analyse(tmp_path, muons, **options)
    assert batches == [4, 4, 4, 4, 4, 3]
    assert batched.cutflow == whole.cutflow  # weights of halves: the sums are exact in any order
    assert (batched.n_events, batched.n_selected) == (whole.n_events, whole.n_selected) == (23, 14)
    assert batched.fiducial_sigma_pb == pytest.approx(whole.fiducial_sigma_pb)
    assert batched.fiducial_sigma_err_pb == pytest.approx(whole.fiducial_sigma_err_pb)
    assert Path(batched.histograms[0].json_path).read_text() == whole_hist


def test_json_reads_back_into_an_equal_hist(tmp_path: Path) -> None:
    result = analyse(tmp_path, [Z_PAIR, LOW_PAIR])
    expected = hist.Hist(
        hist.axis.Regular(60, 60, 120, name="m_mumu", label="$m_{\\mu\\mu}$ [GeV]"),
        storage=hist.storage.Weight(),
        name="m_mumu",
        label="mass(muons[0], muons[1])",
    )
    expected.fill([91.2, 60.0001])
    assert load(result.histograms[0].json_path) == expected
    assert [file.kind for file in result.files] == ["hist-json", "png", "hist-values"]


def test_the_unbinned_values_of_the_selected_events_are_kept(tmp_path: Path) -> None:
    far = [(300.0, 0.0, 0.0, 1), (300.0, 0.0, math.pi, -1)]  # m = 600 GeV: out of the axis range, still kept
    same_sign = [(45.6, 0.0, 0.0, 1), (45.6, 0.0, math.pi, 1)]
    result = analyse(
        tmp_path,
        [Z_PAIR, same_sign, LOW_PAIR, far, Z_PAIR[:1]],
        cuts=[{"opposite_charge": ["muons"]}],
        weights=[2.0, 5.0, 1.0, 3.0, 4.0],
    )
    record = result.histograms[0]
    assert record.values_path == "hists/m_mumu.values.npy"
    kept = read_values((tmp_path / record.values_path).read_bytes())
    assert np.allclose(kept.values, [91.2, 60.0, 600.0], rtol=1e-3)  # event order; float32
    assert kept.weights.tolist() == [2.0, 1.0, 3.0]
    assert not kept.uniform_weights


def test_png_metadata_shows_legend_and_binning(tmp_path: Path) -> None:
    result = analyse(tmp_path, [Z_PAIR, LOW_PAIR, Z_PAIR[:1]], cuts=[{"count": "muons", "min": 2}])
    record = result.histograms[0]
    with Image.open(record.png_path) as image:
        shown = json.loads(image.text["Description"])  # type: ignore[attr-defined]
    assert shown["legend"] == record.legend
    assert "σ = 1500 ± 20 pb" in record.legend
    assert "N = 2 of 3 events" in record.legend
    assert (shown["bins"], shown["range"], shown["entries"]) == (60, [60, 120], 2.0)
    assert (shown["xlabel"], shown["ylabel"]) == ("$m_{\\mu\\mu}$ [GeV]", "Events / 1 GeV")


def test_same_input_gives_identical_files(tmp_path: Path) -> None:
    write_events(tmp_path / "events.root", [Z_PAIR, LOW_PAIR] * 50)
    write_generation(tmp_path / "generation.json", 100)
    outputs = []
    for out in ("a", "b"):
        result = analyze.run(make_request(tmp_path, out_dir=out))
        outputs.append([Path(file.path).read_bytes() for file in result.files])
    assert outputs[0] == outputs[1]


def test_missing_jet_branches(tmp_path: Path) -> None:
    write_events(tmp_path / "events.root", [Z_PAIR])
    write_generation(tmp_path / "generation.json", 1)
    histograms = [{"name": "n_jets", "observable": "count(jets)", "bins": 5, "range": [0, 5], "label": "N"}]
    request = make_request(tmp_path, objects={"jets": {"collection": "jet"}}, histograms=histograms)
    result = analyze.run(request)
    assert not result.ok
    assert result.error == (
        "the events file has no jet branches; the generation step must cluster jets (generator jets setting)"
    )


def test_opposite_charge_of_jets_is_refused_when_the_request_is_read(tmp_path: Path) -> None:
    objects = {"jets": {"collection": "jet"}, "muons": {"collection": "muon"}}
    with pytest.raises(ValueError, match=r"'jets' are neither and carry no charge"):
        make_request(tmp_path, objects=objects, cuts=[{"opposite_charge": ["jets", "muons"]}])


def test_missing_generation_result(tmp_path: Path) -> None:
    write_events(tmp_path / "events.root", [Z_PAIR])
    result = analyze.run(make_request(tmp_path))
    assert not result.ok
    assert "generation.json does not exist; run the generation step first" in (result.error or "")


def test_failed_generation(tmp_path: Path) -> None:
    write_events(tmp_path / "events.root", [Z_PAIR])
    write_generation(tmp_path / "generation.json", 1, ok=False)
    result = analyze.run(make_request(tmp_path))
    assert not result.ok
    assert "the generation step failed" in (result.error or "")


def test_truncated_root_file(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.root", [Z_PAIR] * 100)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    write_generation(tmp_path / "generation.json", 100)
    result = analyze.run(make_request(tmp_path))
    assert not result.ok
    assert "corrupt or truncated" in (result.error or "")


def test_command_line_writes_a_result_and_a_quiet_log(tmp_path: Path) -> None:
    write_events(tmp_path / "events.root", [Z_PAIR, LOW_PAIR])
    write_generation(tmp_path / "generation.json", 2)
    request = make_request(
        tmp_path, events_path="events.root", generation_result_path="generation.json", out_dir="hists", sqrt_s_gev=13000
    )
    (tmp_path / "request.json").write_text(request.model_dump_json())
    env = {**os.environ, "PYTHONPATH": str(Path(analyze.__file__).parents[2])}  # the checkout holding madagents_tools
    completed = subprocess.run(
        [sys.executable, "-m", "madagents_tools.analysis.analyze", "request.json", "result.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = analyze.Result.model_validate_json((tmp_path / "result.json").read_text())
    assert result.ok
    assert result.histograms[0].json_path == "hists/m_mumu.json"
    assert (tmp_path / "hists" / "m_mumu.png").is_file()
    # the tool log holds what the analysis says, not matplotlib's warnings about the plot's labels (the √s above it)
    assert completed.stdout + completed.stderr == ""


def test_pair_mass_pairs_leptons_and_jets_by_the_closest_masses(tmp_path: Path) -> None:
    # straight pairing (μ0 j0)(μ1 j1): 400 and 100 GeV; crossed (μ0 j1)(μ1 j0): 225.6 GeV twice
    muons = [[(200.0, 0.0, 0.0, 1), (50.0, 1.0, 0.0, -1)], [(200.0, 0.0, 0.0, 1), (50.0, 1.0, 0.0, -1)]]
    jets = [[(200.0, 0.0, math.pi, 0), (50.0, 1.0, math.pi, 0)], [(200.0, 0.0, math.pi, 0)]]
    pair_mass = {"name": "m_lj", "observable": "pair_mass(muons, jets)", "bins": 50, "range": [0, 500], "label": "m"}
    result = analyse(
        tmp_path, muons, jets=jets, objects={**MUONS, "jets": {"collection": "jet"}}, histograms=[pair_mass]
    )
    assert values_of(result, "m_lj") == {220.0: 1.0}
    assert result.warnings == [
        "m_lj: 1 of 2 selected events lack the objects of pair_mass(muons, jets) and are not in the histogram"
    ]


@pytest.mark.parametrize("text", ["pair_mass(muons)", "pair_mass(muons[0], jets)", "pair_mass(a, b, c)"])
def test_pair_mass_takes_two_object_names(text: str) -> None:
    with pytest.raises(ValueError, match=r"pair_mass\(\) takes two object names"):
        parse_observable(text)
