"""The claims record: histogram numbers counted from the data, and the results section rendered from it."""

from __future__ import annotations

import hist
import pytest

from madagents.claims import AnalysisClaim, Claims, GenerationClaim, HistogramClaim, histogram_numbers, render_claims


def test_in_range_entries_flows_and_peak_are_counted_from_the_histogram() -> None:
    histogram = hist.Hist(hist.axis.Regular(4, 0, 4), storage=hist.storage.Weight())
    histogram.fill([-1, 0.5, 2.5, 2.5, 2.7, 9, 9])
    assert histogram_numbers(histogram) == {"in_range": 4.0, "underflow": 1.0, "overflow": 2.0, "peak": 2.5}


def test_an_empty_histogram_has_no_peak() -> None:
    histogram = hist.Hist(hist.axis.Regular(4, 0, 4), storage=hist.storage.Weight())
    assert histogram_numbers(histogram)["peak"] is None


def test_a_histogram_without_flow_bins_is_refused() -> None:
    histogram = hist.Hist(hist.axis.Regular(4, 0, 4, underflow=False, overflow=False))
    with pytest.raises(ValueError, match="no under- and overflow bins"):
        histogram_numbers(histogram)


def test_the_results_section_states_every_number() -> None:
    peak = HistogramClaim(
        name="m_mumu",
        observable="mass(muons[0], muons[1])",
        json_path="hists/m_mumu.json",
        png_path="hists/m_mumu.png",
        bins=60,
        range=(60.0, 120.0),
        in_range=1790.0,
        underflow=3.0,
        overflow=2.5,
        peak=91.5,
    )
    claims = Claims(
        generations=[GenerationClaim(step_id="01-generate", sigma_pb=2011.4, sigma_err_pb=15.2, n_events=2000)],
        analyses=[
            AnalysisClaim(
                step_id="02-analyze",
                sigma_pb=2011.4,
                sigma_err_pb=15.2,
                fiducial_sigma_pb=1801.23,
                fiducial_sigma_err_pb=17.0,
                n_read=2000,
                n_generated=2000,
                n_selected=1795,
                histograms=[peak],
            )
        ],
    )
    text = render_claims(claims)
    assert "| cross section σ (`01-generate`) | 2011.4 ± 15 pb |" in text
    assert "| events selected (`02-analyze`) | 1795 of 2000 read (2000 generated) |" in text
    assert "| fiducial σ (`02-analyze`) | 1801.2 ± 17 pb |" in text
    assert "1790 entries in range, 3 below, 2.5 above; highest bin at 91.50" in text
