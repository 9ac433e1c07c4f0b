"""QCD and new-physics catalogue workflows end to end with real Pythia8, checked against known physics (each source
cited).

Three-jet production, γ + jet, diphotons, excited quarks and contact interactions. Where no measurement matches a
bare LO process, the reference is Pythia8's own LO σ of the process it extends (computed here in a second, parton
level only), and the bound is the size of the extension's effect, with its source.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from madagents.processes import CATALOGUE, render_settings
from madagents.workflow import ProcessSpec
from tests.integration.catalogue_runs import (
    fiducial_sigma_pb,
    gate_line,
    peak,
    pythia_lo_sigma_pb,
    run_workflow,
    share_above,
    share_below,
    sigma_pb,
)

pytestmark = pytest.mark.slow

GEV2_TO_PB = 0.3894e9
"""(ħc)²: 1 GeV⁻² = 0.3894 mb = 0.3894e9 pb (PDG, "Physical constants")."""


@pytest.fixture(scope="module")
def multijets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "qcd_multijets")


def test_multijet_sigma_is_an_alpha_s_below_dijets(multijets: Path) -> None:
    # no measurement isolates LO 2 → 3 partons all above 150 GeV; against Pythia8's 2 → 2 σ at the same p̂T the
    # third hard parton costs a factor of order αs(150 GeV)/π ≈ 0.035 (PDG αs(m_Z) = 0.118) times its phase space
    # (ΔR > 1 from the others, PhaseSpace:RsepMin): the ratio lies in [0.005, 0.1]
    dijets = pythia_lo_sigma_pb(["HardQCD:all = on", "PhaseSpace:pTHatMin = 150"])
    ratio = sigma_pb(multijets) / dijets
    assert 0.005 < ratio < 0.1, ratio


def test_multijet_third_jet_pt_has_its_edge_at_the_pthat_cut(multijets: Path) -> None:
    # every hard parton has p̂T > 150 GeV (PhaseSpace:pTHat5Min, Pythia8 manual "Phase Space Cuts"); the third jet
    # carries a little less out of its R = 0.4 cone, and the falling spectrum peaks at the cut
    position, histogram = peak(multijets, "pt_j3")
    assert 105 <= position <= 180, position
    assert share_below(histogram, 90) < 0.15


@pytest.fixture(scope="module")
def gamma_jets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "gamma_jets")


def test_gamma_jet_sigma_is_alpha_over_alpha_s_of_dijets(gamma_jets: Path) -> None:
    # prompt photons replace a gluon's coupling αs by α e_q²: σ(γ + jet) / σ(jets) ≈ 10⁻³ at the same p̂T (Owens,
    # Rev. Mod. Phys. 59 (1987) 465), against Pythia8's 2 → 2 QCD σ: the ratio lies in [2e-4, 3e-3]
    dijets = pythia_lo_sigma_pb(["HardQCD:all = on", "PhaseSpace:pTHatMin = 125"])
    ratio = sigma_pb(gamma_jets) / dijets
    assert 2e-4 < ratio < 3e-3, ratio


def test_gamma_jet_photon_pt_edge_and_back_to_back_jet(gamma_jets: Path) -> None:
    # at LO the photon's pT is p̂T > 125 GeV (Pythia8 manual, "Phase Space Cuts"): the spectrum peaks at the cut
    position, histogram = peak(gamma_jets, "pt_gamma")
    assert 120 <= position <= 150, position
    assert share_below(histogram, 120) < 0.1
    _, dphi = peak(gamma_jets, "dphi_gamma_j")
    assert share_above(dphi, 2.8) > 0.6  # the jet balances the photon in φ, up to radiation


@pytest.fixture(scope="module")
def diphotons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "diphotons")


def test_diphoton_fiducial_sigma_against_the_atlas_measurement(diphotons: Path) -> None:
    # ATLAS, JHEP 11 (2021) 169, arXiv:2107.09330: σ_fid(γγ) = 31.4 ± 2.4 pb at 13 TeV, photons pT > 40 and 30 GeV,
    # |η| < 2.37, ΔR > 0.4, isolated: the workflow's selection. The Born qq̄ → γγ and gg → γγ miss the NLO and NNLO
    # corrections and the fragmentation photons, K ≈ 2-3 (Catani et al., Phys. Rev. Lett. 108 (2012) 072001,
    # arXiv:1110.2375): LO / measured in [0.2, 0.6]
    ratio = fiducial_sigma_pb(diphotons) / 31.4
    assert 0.2 < ratio < 0.6, ratio


def test_diphoton_mass_starts_at_the_pt_threshold(diphotons: Path) -> None:
    # back to back at LO: m_γγ² = 2 pT₁ pT₂ (cosh Δη − cos Δφ) ≥ 4 pT₁ pT₂, so m_γγ ≳ 2 sqrt(40 × 30) ≈ 69 GeV
    position, histogram = peak(diphotons, "m_gamgam")
    assert 60 <= position <= 140, position
    assert share_below(histogram, 60) < 0.15


@pytest.fixture(scope="module")
def excited_quarks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "excited_quarks")


def test_excited_quark_dijet_mass_peaks_at_its_mass(excited_quarks: Path) -> None:
    report = (excited_quarks / "report.md").read_text()
    assert "✓ pass" in gate_line(excited_quarks, "peak m_jj")
    assert "m(q*) = 4000 GeV" in report
    # final-state radiation out of the R = 0.4 jets pulls the dijet mass a little below m_q* (Gurpinar Guler,
    # Guler, Harris, arXiv:2205.02781, Fig. 2)
    position, histogram = peak(excited_quarks, "m_jj")
    assert 3600 <= position <= 4100, position
    assert share_above(histogram, 4400) < 0.05


def test_excited_quark_sigma_against_the_narrow_width_formula(excited_quarks: Path) -> None:
    # a narrow spin-½ colour-triplet resonance from q g (2 × 2 spin, 3 × 8 colour states): σ̂(qg → q*) =
    # 16π² · 2/4 · 3/24 · Γ(q* → qg)/m · δ(ŝ − m²) = π² Γ(qg)/m δ(ŝ − m²) (the Breit–Wigner resonance formula of the
    # PDG review "Cross-section formulae for specific processes" in the narrow-width limit; Baur, Spira, Zerwas,
    # Phys. Rev. D 42 (1990) 815), folded with Pythia8's own PDFs at Q² = m² and times BR(q* → qg), the channel
    # the workflow keeps. The Breit–Wigner tails and 200 events' statistics: the run's σ within 20 %.
    import pythia8mc  # noqa: PLC0415

    mass, s = 4000.0, 13000.0**2
    process = ProcessSpec(name="excited_quarks", final_state=["j", "j"], mass_gev=mass)
    pythia = pythia8mc.Pythia("", False)
    for line in [*render_settings(CATALOGUE["excited_quarks"], process.choice()), "Beams:eCM = 13000"]:
        assert pythia.readString(line)
    for line in ("PartonLevel:all = off", "HadronLevel:all = off", "Next:numberCount = 0"):
        pythia.readString(line)
    assert pythia.init()
    pdf, tau = pythia.getPDFPtr(2212), mass**2 / s
    steps = [math.log(tau) * (1 - (i + 0.5) / 2000) for i in range(2000)]  # ln x from ln τ to 0

    def luminosity(quark: int) -> float:  # ∫ dx/x f_q(x) f_g(τ/x), both beams
        step = -math.log(tau) / len(steps)
        return (
            2
            * step
            * sum(pdf.xf(quark, math.exp(y), mass**2) * pdf.xf(21, tau / math.exp(y), mass**2) / tau for y in steps)
        )

    expected = 0.0
    for pdg, quark in ((4000002, 2), (4000001, 1)):
        to_qg = _branching_to_gluon(pythia, pdg)
        partial = pythia.particleData.mWidth(pdg) * to_qg
        production = math.pi**2 * partial / (mass * s) * (luminosity(quark) + luminosity(-quark))
        expected += production * to_qg * GEV2_TO_PB
    ratio = sigma_pb(excited_quarks) / expected
    assert 0.8 < ratio < 1.2, (ratio, expected)


def _branching_to_gluon(pythia: Any, pdg: int) -> float:
    entry = pythia.particleData.particleDataEntryPtr(pdg)
    channels = [entry.channel(i) for i in range(entry.sizeChannels())]
    return sum(c.bRatio() for c in channels if 21 in [c.product(k) for k in range(c.multiplicity())])


def test_excited_quark_width_follows_baur_spira_zerwas() -> None:
    # Baur, Spira, Zerwas, Phys. Rev. D 42 (1990) 815: Γ(q* → q g) = (1/3) αs f_s² m³ / Λ² = αs m / 3 for Λ = m,
    # f_s = 1; αs(4 TeV) ≈ 0.08 (PDG running from αs(m_Z) = 0.118), so Γ(qg) / m in [0.025, 0.032]. Pythia8
    # computes it at init from the catalogue's settings.
    import pythia8mc  # noqa: PLC0415

    process = ProcessSpec(name="excited_quarks", final_state=["j", "j"], mass_gev=4000)
    pythia = pythia8mc.Pythia("", False)
    for line in [*render_settings(CATALOGUE["excited_quarks"], process.choice()), "Beams:eCM = 13000"]:
        assert pythia.readString(line)
    for line in ("PartonLevel:all = off", "HadronLevel:all = off", "Next:numberCount = 0"):
        pythia.readString(line)
    assert pythia.init()
    for pdg in (4000001, 4000002):
        partial = pythia.particleData.mWidth(pdg) * _branching_to_gluon(pythia, pdg)
        assert 0.025 < partial / 4000 < 0.032, (pdg, partial)


@pytest.fixture(scope="module")
def contact_dijets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "contact_dijets")


def test_contact_interaction_raises_the_qq_dijet_sigma(contact_dijets: Path) -> None:
    # a left-left qq contact term with constructive interference (η_LL = −1) adds ∝ ŝ/Λ² to the qq → qq amplitude
    # (Eichten, Hinchliffe, Lane, Quigg, Rev. Mod. Phys. 56 (1984) 579); for p̂T > 1 TeV and Λ = 10 TeV that is
    # + 20-50 % over Pythia8's QCD qq → qq and qq̄ → qq̄ alone
    qcd = pythia_lo_sigma_pb(["HardQCD:qq2qq = on", "HardQCD:qqbar2qqbarNew = on", "PhaseSpace:pTHatMin = 1000"])
    ratio = sigma_pb(contact_dijets) / qcd
    assert 1.15 < ratio < 1.6, ratio


def test_contact_dijet_leading_jet_pt_has_its_edge_at_the_pthat_cut(contact_dijets: Path) -> None:
    position, histogram = peak(contact_dijets, "pt_j1")
    assert 950 <= position <= 1150, position
    assert share_below(histogram, 900) < 0.1


@pytest.fixture(scope="module")
def contact_dileptons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_workflow(tmp_path_factory, "contact_dileptons")


def test_contact_interaction_raises_the_drell_yan_sigma(contact_dileptons: Path) -> None:
    # the qqμμ contact term interferes with γ*/Z exchange ∝ ŝ/Λ² (Eichten, Lane, Peskin, Phys. Rev. Lett. 50 (1983)
    # 811): for m̂ > 300 GeV and Λ = 10 TeV, η_LL = −1, + 5-35 % over Pythia8's Drell–Yan alone
    drell_yan = pythia_lo_sigma_pb(
        ["WeakSingleBoson:ffbar2gmZ = on", "23:onMode = off", "23:onIfMatch = 13 -13", "PhaseSpace:mHatMin = 300"]
    )
    ratio = sigma_pb(contact_dileptons) / drell_yan
    assert 1.05 < ratio < 1.35, ratio


def test_contact_dilepton_mass_starts_at_the_mhat_cut(contact_dileptons: Path) -> None:
    position, histogram = peak(contact_dileptons, "m_mumu")
    assert 300 <= position <= 400, position
    assert share_below(histogram, 300) < 0.05  # below only by final-state radiation
