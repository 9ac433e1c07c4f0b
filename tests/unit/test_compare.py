"""madagents compare: readers, the χ² rules for empty bins and zero errors, exit codes, JUnit, HTML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from madagents.cli import app
from madagents.compare import Tolerance, compare_runs
from madagents.compare.histogram import Binned
from madagents.compare.readers import load_sample
from madagents.compare.readers.rundir import write_golden
from madagents.compare.statistics import chi2_test
from madagents.errors import UserInputError
from tests.compare_samples import write_golden_dir

RUNNER = CliRunner()


def _said(result: Result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def _mc(values: list[float], scale: float = 1.0) -> Binned:
    counts = np.asarray(values, dtype=np.float64)
    from madagents.compare.histogram import from_weights  # noqa: PLC0415

    return from_weights("h", np.arange(len(values) + 1.0), counts, counts, scale, "pb")


def _data(values: list[float], errors: list[float], up: list[float] | None = None) -> Binned:
    array = np.asarray
    edges = np.arange(len(values) + 1.0)
    return Binned("h", edges, array(values), array(errors), array(up if up is not None else errors), "data", None, "pb")


def test_two_seeds_compatible_a_shifted_mass_not(tmp_path: Path) -> None:
    one, two = write_golden_dir(tmp_path / "a", seed=1), write_golden_dir(tmp_path / "b", seed=2)
    shifted = write_golden_dir(tmp_path / "c", seed=3, mass=94.0)
    assert compare_runs(one, two).compatible
    result = compare_runs(shifted, two)
    assert not result.compatible
    assert result.histograms[0].p_value < 1e-6
    assert [s.quantity for s in result.cross_sections] == ["sigma"]


def test_empty_bins_on_both_sides_are_skipped_and_not_counted() -> None:
    result = chi2_test(_mc([0, 10, 20, 0]), _mc([0, 12, 18, 0]), "absolute", Tolerance())
    assert result.ndf == 2
    assert [b.pull is None for b in result.bins] == [True, False, False, True]


def test_an_empty_monte_carlo_bin_still_has_an_uncertainty() -> None:
    """0 events against 4: the pooled Poisson variance gives (0 − 4)²/4 = 4, not an infinite pull."""
    result = chi2_test(_mc([0, 100]), _mc([4, 100]), "absolute", Tolerance())
    assert result.bins[0].pull == pytest.approx(-2.0)
    assert result.chi2 == pytest.approx(4.0)


def test_zero_uncertainties_must_match_exactly() -> None:
    equal = chi2_test(_data([1, 2], [0, 0]), _data([1, 2], [0, 0]), "absolute", Tolerance())
    assert equal.compatible
    assert equal.ndf == 0
    differ = chi2_test(_data([1, 2], [0, 0]), _data([1, 3], [0, 0]), "absolute", Tolerance())
    assert not differ.compatible
    assert differ.bins[1].pull == -np.inf


def test_asymmetric_errors_use_the_side_facing_the_other_value() -> None:
    reference = _data([10.0], [1.0], up=[4.0])
    above = chi2_test(_data([14.0], [0.0]), reference, "absolute", Tolerance())
    below = chi2_test(_data([6.0], [0.0]), reference, "absolute", Tolerance())
    assert above.bins[0].pull == pytest.approx(1.0)  # 4 above, the upper error is 4
    assert below.bins[0].pull == pytest.approx(-4.0)  # 4 below, the lower error is 1


HEPDATA_TABLE = """\
independent_variables:
- header: {name: 'M(LL)', units: GEV}
  values:
  - {low: 60, high: 80}
  - {low: 80, high: 100}
  - {low: 100, high: 120}
dependent_variables:
- header: {name: 'D(SIG)/DM', units: FB/GEV}
  qualifiers:
  - {name: SQRT(S), units: GEV, value: 13000}
  values:
  - value: 200
    errors:
    - {symerror: 10, label: stat}
    - {asymerror: {plus: 30, minus: -20}, label: sys}
  - value: 5000
    errors:
    - {symerror: '2%', label: stat}
  - value: 100
    errors:
    - {asymerror: {plus: -5, minus: 15}, label: sys}
"""


def test_hepdata_table_with_asymmetric_errors(tmp_path: Path) -> None:
    path = tmp_path / "Table1.yaml"
    path.write_text(HEPDATA_TABLE)
    sample = load_sample(path)
    table = sample.histograms["D(SIG)/DM"]
    assert table.edges.tolist() == [60, 80, 100, 120]
    assert table.units == "pb"
    assert table.values.tolist() == pytest.approx([0.2, 5.0, 0.1])  # fb → pb
    assert table.err_up.tolist() == pytest.approx([np.hypot(10, 30) / 1e3, 0.1, 0.015])
    assert table.err_down.tolist() == pytest.approx([np.hypot(10, 20) / 1e3, 0.1, 0.005])  # swapped signs too


def test_hepdata_reference_for_a_run(tmp_path: Path) -> None:
    """A run against a table of another binning is bad input (exit 2) naming both binnings."""
    run = write_golden_dir(tmp_path / "run")
    table = tmp_path / "Table1.yaml"
    table.write_text(HEPDATA_TABLE)
    result = RUNNER.invoke(app, ["compare", str(run), str(table)])
    assert result.exit_code == 2
    assert "different binning: m_mumu has 30 bins over [60, 120]" in _said(result)
    assert "3 over [60, 120]" in _said(result)


def test_different_binning_exits_2_with_a_message(tmp_path: Path) -> None:
    fine, coarse = write_golden_dir(tmp_path / "a", bins=60), write_golden_dir(tmp_path / "b", bins=30)
    result = RUNNER.invoke(app, ["compare", str(fine), str(coarse), "--junit", str(tmp_path / "j.xml")])
    assert result.exit_code == 2
    assert "different binning" in _said(result)
    assert not (tmp_path / "j.xml").exists()


def test_missing_histogram_and_unreadable_input_exit_2(tmp_path: Path) -> None:
    run, other = write_golden_dir(tmp_path / "a"), write_golden_dir(tmp_path / "b")
    (other / "hists" / "m_mumu.json").rename(other / "hists" / "m_ll.json")
    missing = RUNNER.invoke(app, ["compare", str(run), str(other)])
    assert missing.exit_code == 2
    assert "histogram m_mumu of" in _said(missing)
    assert "missing" in _said(missing)
    (tmp_path / "bad.yoda").write_bytes(b"\xff\xfe")
    unreadable = RUNNER.invoke(app, ["compare", str(run), str(tmp_path / "bad.yoda")])
    assert unreadable.exit_code == 2
    assert "is not YODA text" in _said(unreadable)
    absent = RUNNER.invoke(app, ["compare", str(run), str(tmp_path / "nothing")])
    assert absent.exit_code == 2
    assert "does not exist" in _said(absent)


def test_junit_fails_only_the_incompatible_comparison(tmp_path: Path) -> None:
    reference = write_golden_dir(tmp_path / "ref", seed=2)
    same, shifted = (
        write_golden_dir(tmp_path / "same", seed=1),
        write_golden_dir(tmp_path / "shifted", seed=3, mass=94.0),
    )
    ok = RUNNER.invoke(app, ["compare", str(same), str(reference), "--junit", str(tmp_path / "ok.xml")])
    bad = RUNNER.invoke(app, ["compare", str(shifted), str(reference), "--junit", str(tmp_path / "bad.xml")])
    assert (ok.exit_code, bad.exit_code) == (0, 1)
    assert ET.parse(tmp_path / "ok.xml").getroot().findall(".//failure") == []
    failures = ET.parse(tmp_path / "bad.xml").getroot().findall(".//testcase[failure]")
    assert [case.get("name") for case in failures] == ["m_mumu"]


def test_json_and_html_outputs(tmp_path: Path) -> None:
    one, two = write_golden_dir(tmp_path / "a", seed=1), write_golden_dir(tmp_path / "b", seed=2)
    args = ["compare", str(one), str(two), "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "html")]
    assert RUNNER.invoke(app, args).exit_code == 0
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["compatible"] is True
    assert saved["histograms"][0]["ndf"] > 20
    index = (tmp_path / "html" / "index.html").read_text()
    assert "m_mumu.png" in index
    assert (tmp_path / "html" / "m_mumu.png").read_bytes()[:4] == b"\x89PNG"


def test_shape_only_ignores_the_normalisation(tmp_path: Path) -> None:
    one, doubled = write_golden_dir(tmp_path / "a", seed=1), write_golden_dir(tmp_path / "b", seed=2, sigma=3000.0)
    assert RUNNER.invoke(app, ["compare", str(one), str(doubled)]).exit_code == 1
    assert RUNNER.invoke(app, ["compare", str(one), str(doubled), "--shape-only"]).exit_code == 0
    assert RUNNER.invoke(app, ["compare", str(one), str(doubled), "--normalised"]).exit_code == 0
    both = RUNNER.invoke(app, ["compare", str(one), str(doubled), "--normalised", "--shape-only"])
    assert both.exit_code == 2


def test_tolerances_file(tmp_path: Path) -> None:
    reference, shifted = write_golden_dir(tmp_path / "ref", seed=2), write_golden_dir(tmp_path / "s", seed=3, mass=94.0)
    tolerances = tmp_path / "tol.yaml"
    tolerances.write_text("histograms:\n  m_mumu: {skip: true}\n")
    assert compare_runs(shifted, reference, tolerances=tolerances).compatible
    tolerances.write_text("histograms:\n  m_mumu: {min_pvalue: 0.1}\n")
    result = RUNNER.invoke(app, ["compare", str(shifted), str(reference), "--tolerances", str(tolerances)])
    assert result.exit_code == 2
    assert "histograms.m_mumu.min_pvalue" in _said(result)


YODA1 = """\
BEGIN YODA_SCATTER2D_V2 /REF/TEST_2020_I1/d01-x01-y01
Path: /REF/TEST_2020_I1/d01-x01-y01
Type: Scatter2D
---
# xval\txerr-\txerr+\tyval\tyerr-\tyerr+
1.0 1.0 1.0 10.0 1.0 2.0
3.0 1.0 1.0 5.0 0.5 0.5
END YODA_SCATTER2D_V2

BEGIN YODA_HISTO1D_V2 /TEST_2020_I1/d01-x01-y01
Path: /TEST_2020_I1/d01-x01-y01
Type: Histo1D
---
# ID\tID\tsumw\tsumw2\tsumwx\tsumwx2\tnumEntries
Total\tTotal\t30\t30\t0\t0\t30
Underflow\tUnderflow\t0\t0\t0\t0\t0
Overflow\tOverflow\t0\t0\t0\t0\t0
# xlow\txhigh\tsumw\tsumw2\tsumwx\tsumwx2\tnumEntries
0.0 2.0 20 20 0 0 20
2.0 4.0 10 10 0 0 10
END YODA_HISTO1D_V2
"""

YODA2 = """\
BEGIN YODA_ESTIMATE1D_V3 /REF/TEST_2020_I1/d01-x01-y01
Path: /REF/TEST_2020_I1/d01-x01-y01
Type: Estimate1D
---
ErrorLabels: ["stat", "syst"]
Edges(A1): [0.0, 2.0, 4.0]
# value\terrDn(1)\terrUp(1)\terrDn(2)\terrUp(2)
nan nan nan nan nan
10.0 -1.0 1.0 -3.0 4.0
5.0 -0.5 0.5 0.0 0.0
nan nan nan nan nan
END YODA_ESTIMATE1D_V3
"""


def test_yoda1_and_yoda2(tmp_path: Path) -> None:
    (tmp_path / "one.yoda").write_text(YODA1)
    (tmp_path / "two.yoda").write_text(YODA2)
    one, two = load_sample(tmp_path / "one.yoda"), load_sample(tmp_path / "two.yoda")
    assert sorted(one.histograms) == ["/REF/TEST_2020_I1/d01-x01-y01", "/TEST_2020_I1/d01-x01-y01"]
    scatter, histo = one.histograms["/REF/TEST_2020_I1/d01-x01-y01"], one.histograms["/TEST_2020_I1/d01-x01-y01"]
    assert (scatter.kind, scatter.edges.tolist(), scatter.err_up.tolist()) == ("data", [0, 2, 4], [2.0, 0.5])
    assert (histo.kind, histo.values.tolist()) == ("mc", [10.0, 5.0])  # sums of weights over the widths
    estimate = two.histograms["/TEST_2020_I1/d01-x01-y01"]
    assert estimate.edges.tolist() == [0, 2, 4]
    assert estimate.err_up.tolist() == pytest.approx([np.hypot(1, 4), 0.5])
    assert estimate.err_down.tolist() == pytest.approx([np.hypot(1, 3), 0.5])
    assert compare_runs(tmp_path / "one.yoda", tmp_path / "two.yoda").histograms


def test_write_golden_refuses_a_directory_that_is_no_run(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="neither a run directory"):
        load_sample(tmp_path)
    with pytest.raises(UserInputError, match="no analysis result"):
        write_golden(tmp_path, tmp_path / "golden")


def test_ks_where_both_sides_kept_unbinned_values(tmp_path: Path) -> None:
    reference = write_golden_dir(tmp_path / "ref", seed=2)
    same = compare_runs(write_golden_dir(tmp_path / "same", seed=1), reference).histograms[0]
    shifted = compare_runs(write_golden_dir(tmp_path / "shifted", seed=3, mass=94.0), reference).histograms[0]
    assert same.ks_statistic is not None
    assert same.ks_p_value is not None
    assert same.ks_p_value > 0.001
    assert shifted.ks_p_value is not None
    assert shifted.ks_p_value < 1e-10  # 3 GeV on a 2.5 GeV wide peak, 4000 events a side
    args = ["compare", str(tmp_path / "shifted"), str(reference), "--junit", str(tmp_path / "j.xml")]
    args += ["--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "html")]
    said = _said(RUNNER.invoke(app, args))
    assert "KS D (p)" in said
    assert f"{shifted.ks_statistic:.3g}" in said
    assert json.loads((tmp_path / "r.json").read_text())["histograms"][0]["ks_p_value"] < 1e-10
    assert "KS D = " in ET.parse(tmp_path / "j.xml").getroot().findtext(".//testcase[@name='m_mumu']/system-out", "")
    assert "KS D = " in (tmp_path / "html" / "index.html").read_text()


def test_a_ks_threshold_in_the_tolerances_can_fail_a_histogram(tmp_path: Path) -> None:
    one, two = write_golden_dir(tmp_path / "a", seed=1), write_golden_dir(tmp_path / "b", seed=2)
    assert compare_runs(one, two).compatible  # KS is reported, never failing, unless asked
    strict = tmp_path / "tolerances.yaml"
    strict.write_text("histograms:\n  m_mumu: {min_ks_p_value: 1.0}\n")
    histogram = compare_runs(one, two, tolerances=strict).histograms[0]
    assert not histogram.compatible
    assert histogram.reasons == [f"KS p = {histogram.ks_p_value:.3g} < 1"]


def test_no_ks_for_weighted_events_or_a_side_without_values(tmp_path: Path) -> None:
    reference = write_golden_dir(tmp_path / "ref", seed=2)
    weights = np.random.default_rng(5).uniform(0.5, 1.5, 4000)
    weighted = compare_runs(write_golden_dir(tmp_path / "w", seed=1, weights=weights), reference).histograms[0]
    assert weighted.ks_statistic is None
    assert "no KS test: the events have unequal weights, and the two-sample KS test takes none" in weighted.notes
    bare = compare_runs(write_golden_dir(tmp_path / "bare", seed=1, values=False), reference).histograms[0]
    assert bare.ks_statistic is None
    assert "no KS test: only the reference kept unbinned values" in bare.notes


def test_an_unreadable_values_file_exits_2(tmp_path: Path) -> None:
    reference = write_golden_dir(tmp_path / "ref", seed=2)
    run = write_golden_dir(tmp_path / "run", seed=1)
    np.save(run / "hists" / "m_mumu.values.npy", np.arange(10.0))
    said = RUNNER.invoke(app, ["compare", str(run), str(reference)])
    assert said.exit_code == 2
    assert "cannot be read as a histogram's unbinned values: not a table of value and weight" in _said(said)
    assert "remove it to compare the binned histogram without a KS test" in _said(said)


def test_a_blessed_golden_keeps_the_unbinned_values(tmp_path: Path) -> None:
    source = write_golden_dir(tmp_path / "source", seed=1)
    write_golden(source, tmp_path / "golden")
    copied = tmp_path / "golden" / "hists" / "m_mumu.values.npy"
    assert copied.read_bytes() == (source / "hists" / "m_mumu.values.npy").read_bytes()
    assert compare_runs(source, tmp_path / "golden").histograms[0].ks_p_value == 1.0
