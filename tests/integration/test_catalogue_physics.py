"""The catalogue's new workflows end to end with real Pythia8, checked against known physics (each source cited).

A few hundred events each: enough to place a peak or an edge within a bin or two, and σ to a few per cent. Pythia8's
cross sections are LO; each comparison with a measured or higher-order value states the tolerance and why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from madagents.processes import CATALOGUE, render_settings
from madagents.workflow import ProcessSpec
from tests.integration.catalogue_runs import (
    M_W_GEV,
    M_Z_GEV,
    gate_line,
    generation,
    peak,
    run_workflow,
    share_above,
    share_below,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def w_enu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "w_enu")


def test_w_enu_sigma_against_the_atlas_measurement(w_enu: Path) -> None:
    # ATLAS, Phys. Lett. B 759 (2016) 601, arXiv:1603.09222: σ(W⁺ → ℓ⁺ν) = 11.83 nb, σ(W⁻ → ℓ⁻ν̄) = 8.79 nb at
    # 13 TeV (each per lepton flavour). LO Pythia8 lacks the NLO/NNLO correction, K ≈ 1.2-1.3 for W production:
    # LO / measured is expected in [0.65, 0.95].
    sigma = generation(w_enu).sigma_pb
    assert sigma is not None
    ratio = sigma / ((11.83 + 8.79) * 1000)
    assert 0.65 < ratio < 0.95, ratio


def test_w_enu_electron_pt_has_its_jacobian_peak_below_half_the_w_mass(w_enu: Path) -> None:
    # the Jacobian peak of pT(e) sits at m_W / 2 (PDG m_W = 80.369 GeV), smeared down by the W's width and pT
    position, histogram = peak(w_enu, "pt_e")
    assert M_W_GEV / 2 - 8 <= position <= M_W_GEV / 2 + 1, position
    assert share_above(histogram, M_W_GEV / 2 + 4) < 0.25


def test_w_enu_transverse_mass_has_its_jacobian_peak_just_below_the_w_mass(w_enu: Path) -> None:
    # m_T(e, MET) ≤ m_W up to the W width (PDG m_W = 80.369 GeV, Γ_W = 2.085 GeV): at particle level the missing pT
    # is the neutrino's, so the distribution rises to its Jacobian peak just below m_W and falls sharply above it
    position, histogram = peak(w_enu, "m_t")
    assert 60 <= position <= 85, position
    assert position < M_W_GEV
    assert share_above(histogram, M_W_GEV + 10) < 0.05  # beyond m_W by more than four widths
    line = gate_line(w_enu, "edge m_t")  # the edge check (checks.edges) places it at Pythia8's m_W
    assert "✓ pass" in line
    assert "the Jacobian edge of m_T at m(W+) = 80.3" in line


@pytest.fixture(scope="module")
def zprime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "zprime_ssm_mumu")


def test_zprime_peak_gate_checked_the_zprime(zprime: Path) -> None:
    report = (zprime / "report.md").read_text()
    assert "| peak m_mumu | ✓ pass | m_mumu peaks at" in report
    assert "m(Z'0) = 3000 GeV" in report
    assert "PDG 32: 1.000000" in report  # the branching-fraction gate read the Z′ table
    assert "f fbar -> gamma*/Z0/Zprime0 (code 3001)" in report  # what Pythia8 says it generated
    position, _ = peak(zprime, "m_mumu")
    assert abs(position - 3000) <= 100


def test_zprime_ssm_width_is_three_percent_of_its_mass() -> None:
    # ATLAS, Phys. Lett. B 796 (2019) 68, arXiv:1903.06248: "the Z′_SSM ... has a width
    # of approximately 3% of its mass". Pythia8 computes it at init from the catalogue's settings.
    import pythia8mc  # noqa: PLC0415

    process = ProcessSpec(name="zprime_ssm", final_state=["mu+", "mu-"], mass_gev=3000)
    pythia = pythia8mc.Pythia("", False)
    for line in [*render_settings(CATALOGUE["zprime_ssm"], process.choice()), "Beams:eCM = 13000"]:
        assert pythia.readString(line)
    for line in ("PartonLevel:all = off", "HadronLevel:all = off", "Next:numberCount = 0"):
        pythia.readString(line)
    assert pythia.init()
    width = pythia.particleData.mWidth(32)
    assert 0.025 < width / 3000 < 0.035, width


@pytest.fixture(scope="module")
def wprime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "wprime_enu")


def test_wprime_electron_pt_has_its_jacobian_edge_at_half_the_wprime_mass(wprime: Path) -> None:
    # two-body decay kinematics: pT(e) ≤ m_W′ / 2 for a W′ at rest, the Jacobian peak just below (PDG review
    # "Kinematics"); m_W′ = 3 TeV here, the edge at 1.5 TeV, smeared by the W′ width and pT.
    report = (wprime / "report.md").read_text()
    assert "PDG 34: 1.000000" in report  # the branching-fraction gate read the W′ table
    assert "f fbar' -> W'+-" in report
    position, histogram = peak(wprime, "pt_e")
    assert 1100 <= position <= 1500, position
    assert share_above(histogram, 1600) < 0.1


def test_wprime_transverse_mass_edge_gate_checks_the_wprime(wprime: Path) -> None:
    # m_T(e, MET) ≤ m_W′ for an on-shell W′ (UA1's W discovery variable, Phys. Lett. B 122 (1983) 103), its
    # Jacobian edge at m_W′ = 3 TeV: the W′ has no mass peak, and the edge check (checks.edges) places it
    line = gate_line(wprime, "edge m_t")
    assert "✓ pass" in line
    assert "the Jacobian edge of m_T at m(W'+) = 3000 GeV" in line
    position, histogram = peak(wprime, "m_t")
    assert 2500 <= position <= 3000, position  # the Jacobian peak, just below the edge (100 GeV bins)
    assert share_above(histogram, 3200) < 0.05


@pytest.fixture(scope="module")
def higgs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "higgs_4l")


def test_higgs_4l_sigma_against_the_lhc_higgs_cross_section_group(higgs: Path) -> None:
    # LHC Higgs XS WG, CERN Yellow Report 4 (arXiv:1610.07922): σ(gg → H, 13 TeV, m_H = 125 GeV) = 48.58 pb at
    # N3LO; BR(H → ZZ* → 4ℓ, ℓ = e, μ) = 1.25e-4. Pythia8's gg → H is LO with LO widths, and the ggF K-factor
    # N3LO / LO is 2-3 (Anastasiou et al., arXiv:1602.00695): LO / N3LO in [0.3, 0.7].
    sigma = generation(higgs).sigma_pb
    assert sigma is not None
    ratio = sigma / (48.58 * 1.25e-4)
    assert 0.3 < ratio < 0.7, ratio


def test_higgs_4l_leading_muon_pair_shows_the_on_shell_z(higgs: Path) -> None:
    # H → Z Z*: one Z is on shell (PDG m_Z = 91.188 GeV), the other below m_H − m_Z ≈ 34 GeV
    position, histogram = peak(higgs, "m_mumu")
    assert abs(position - M_Z_GEV) <= 5, position
    assert share_above(histogram, 100) < 0.05


def test_higgs_4l_four_lepton_mass_peaks_at_the_higgs_mass(higgs: Path) -> None:
    # the two Z candidates (same-flavour opposite-sign pairs, the one closest to m_Z first) rebuild the Higgs:
    # m_4ℓ peaks at m_H = 125 GeV (Γ_H = 4 MeV), with a tail below from photons the leptons radiated
    assert "✓ pass" in gate_line(higgs, "peak m_4l")
    position, histogram = peak(higgs, "m_4l")
    assert position == 125, position
    assert histogram.values().max() / histogram.values(flow=True).sum() > 0.5
    assert share_above(histogram, 127) < 0.02


@pytest.fixture(scope="module")
def wz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "wz_3l")


def test_wz_sigma_against_the_atlas_measurement(wz: Path) -> None:
    # ATLAS, Eur. Phys. J. C 79 (2019) 535, arXiv:1902.05759: σ(pp → W±Z) = 51.0 pb at 13 TeV (66 < m_Z < 116 GeV);
    # × BR(W → eν, μν) = 0.2163 × BR(Z → ee, μμ) = 0.0673 (PDG). LO qq̄' → WZ misses the NLO corrections
    # (K ≈ 1.8, Grazzini et al. arXiv:1604.08576): LO / measured in [0.3, 0.75].
    sigma = generation(wz).sigma_pb
    assert sigma is not None
    ratio = sigma / (51.0 * 0.2163 * 0.0673)
    assert 0.3 < ratio < 0.75, ratio


def test_wz_muon_pair_peaks_at_the_z(wz: Path) -> None:
    report = (wz / "report.md").read_text()
    assert "| peak m_mumu | ✓ pass |" in report
    position, _ = peak(wz, "m_mumu")
    assert abs(position - M_Z_GEV) <= 4, position


@pytest.fixture(scope="module")
def dijets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "dijet_pthat500")


def test_dijet_leading_jet_pt_has_its_edge_at_the_pthat_cut(dijets: Path) -> None:
    # PhaseSpace:pTHatMin (Pythia8 manual, "Phase Space Cuts") cuts the 2 → 2 partons' pT at 500 GeV; the leading
    # jet carries about that, a little less out of cone, more with ISR, and the steep spectrum peaks at the cut
    position, histogram = peak(dijets, "pt_j1")
    assert 450 <= position <= 650, position
    assert share_below(histogram, 400) < 0.05
    processes = {process.name for process in generation(dijets).processes}
    assert "g g -> g g" in processes
    assert "q g -> q g" in processes
