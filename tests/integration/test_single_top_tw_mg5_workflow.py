"""tW associated single top, which Pythia8 cannot generate: the MG5 → Pythia8 chain of single_top_tw_mg5.yaml,
checked against the approximate-NNLO σ and the top's m_bℓ edge (each source cited).

MG5 is played by the stand-in of tests/fake_mg5.py, answering with the recorded output of MG5 3.5.7 for exactly
this workflow at 200 events and its run seed (tests/fixtures/mg5/pp_tw); everything after MG5 is real.
test_single_top_tw_mg5_docker.py checks that real MG5 gives that output.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fake_mg5 import run_on_recorded_mg5
from tests.integration.catalogue_runs import M_TOP_GEV, M_W_GEV, gate_line, mean, peak, sigma_pb

pytestmark = pytest.mark.slow

WORKFLOW = REPO / "workflows" / "single_top_tw_mg5.yaml"
RECORDED = REPO / "tests" / "fixtures" / "mg5" / "pp_tw"


@pytest.fixture(scope="module")
def tw_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_on_recorded_mg5(WORKFLOW, RECORDED, tmp_path_factory.mktemp("tw"), events=200)


def test_tw_sigma_against_the_approximate_nnlo_prediction(tw_run: Path) -> None:
    # Kidonakis, Phys. Rev. D 82 (2010) 054018, arXiv:1005.4451, as the LHC Top Working Group quotes it for 13 TeV:
    # σ(tW⁻ + t̄W⁺) = 71.7 pb at approximate NNLO, m_t = 172.5 GeV. MG5's LO in the five-flavour scheme lacks
    # K ≈ 1.2-1.4: LO / aNNLO in [0.6, 0.95]. The shower step reports MG5's σ (the banner gate checks they agree).
    ratio = sigma_pb(tw_run, step="02-shower") / 71.7
    assert 0.6 < ratio < 0.95, ratio


def test_tw_b_lepton_mass_and_w_edge(tw_run: Path) -> None:
    # m_bℓ ≤ sqrt(m_t² − m_W²) ≈ 152.5 GeV when the lepton is the top's; in tW it may be the other W's, so the
    # mean, not the maximum, lies below the edge
    _, m_bl = peak(tw_run, "m_bl")
    assert mean(m_bl) < math.sqrt(M_TOP_GEV**2 - M_W_GEV**2)
    assert "✓ pass" in gate_line(tw_run, "edge m_t")  # the leading lepton's m_T has the W's Jacobian edge
    report = (tw_run / "report.md").read_text()
    assert "p p > t w-; p p > t~ w+" in report  # the label names the MG5 lines that ran
