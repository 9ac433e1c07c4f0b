"""Hard processes the offline stack can generate with Pythia8's built-in matrix elements.

Each entry turns a validated process request into Pythia8 settings. References: the Pythia8 manual,
"Electroweak Processes" (WeakSingleBoson), "Top Processes" and "Particle Data" (onMode, onIfMatch, onPosIfAny).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["CATALOGUE", "ProcessChoice", "ProcessNote", "ProcessRecipe"]

FinalState = tuple[int, int]


@dataclass(frozen=True, slots=True)
class ProcessChoice:
    """What a workflow asks of a catalogue process."""

    final_state: FinalState
    """PDG ids of the two charged leptons."""
    mass_min_gev: float | None = None
    """Minimum invariant mass of the hard process (m̂)."""
    mass_gev: float | None = None
    """Mass of the new particle the process produces (recipes with ``new_particle``)."""


@dataclass(frozen=True, slots=True)
class ProcessNote:
    """A process-specific choice, listed among the run's assumptions."""

    topic: str
    choice: str
    source: Literal["task", "default", "convention"]
    """Where the choice comes from, as in the assumptions log."""
    reason: str
    affects: tuple[str, ...]


def _no_notes(choice: ProcessChoice) -> tuple[ProcessNote, ...]:
    del choice  # the common signature of ``ProcessRecipe.notes``; a recipe without notes needs nothing
    return ()


@dataclass(frozen=True, slots=True)
class ProcessRecipe:
    """How to generate one named process."""

    description: str
    """Human-readable reaction, used in reports."""
    latex: str
    """Reaction in mathtext for plot legends; ``{products}`` stands for the final state."""
    final_states: tuple[FinalState, ...]
    """Allowed final states (PDG ids of the two charged leptons), compared as unordered pairs."""
    resonances: tuple[int, ...]
    """PDG ids of the resonances whose decay tables the generator reports and the reviewer checks."""
    settings: Callable[[ProcessChoice], list[str]]
    """The workflow's choice -> Pythia8 settings."""
    notes: Callable[[ProcessChoice], tuple[ProcessNote, ...]] = _no_notes
    """Process-specific choices for the assumptions log, e.g. which decay channels are open."""
    new_particle: str | None = None
    """Name of the new particle whose mass the workflow must give (``process.mass_gev``), if any."""


def _mass_cut(mass_min_gev: float | None) -> list[str]:
    return [] if mass_min_gev is None else [f"PhaseSpace:mHatMin = {mass_min_gev:g}"]


def _drell_yan(choice: ProcessChoice) -> list[str]:
    lepton = abs(choice.final_state[0])
    lines = [
        "WeakSingleBoson:ffbar2gmZ = on",
        # Full γ*/Z interference; only the requested lepton flavour is open, so σ already includes the BR.
        "23:onMode = off",
        f"23:onIfMatch = {lepton} {-lepton}",
    ]
    return lines + _mass_cut(choice.mass_min_gev)


TOP_MASS_GEV = 172.5
W_TO_LEPTON_BR = 0.1081
"""Pythia8 8.317's W → ℓν branching ratio (each of e, μ; computed from its couplings at init)."""
W_TO_LEPTON_BR_PDG = {11: 0.1071, 13: 0.1063}
_LEPTON_NAMES = {11: ("e", "ν_e", "ν̄_e"), 13: ("μ", "ν_μ", "ν̄_μ")}
_PDG_STEMS = {11: "e", 13: "mu"}


def _w_leptons(final_state: FinalState) -> tuple[int, int]:
    """Flavours (11 or 13) of the lepton from the W⁺ and from the W⁻; a positive charged lepton has a negative id."""
    plus = next(pdg for pdg in final_state if pdg < 0)
    minus = next(pdg for pdg in final_state if pdg > 0)
    return -plus, minus


def _ttbar(choice: ProcessChoice) -> list[str]:
    from_w_plus, from_w_minus = _w_leptons(choice.final_state)
    lines = [
        "Top:gg2ttbar = on",
        "Top:qqbar2ttbar = on",
        f"6:m0 = {TOP_MASS_GEV:g}",
        # onPos/onNeg act on the W⁺ / W⁻ alone (matching ignores the products' signs): exactly one charge
        # assignment is open, and Pythia8 scales σ by BR(W⁺ → ℓν) × BR(W⁻ → ℓ'ν̄) of the open channels.
        "24:onMode = off",
        f"24:onPosIfAny = {from_w_plus}",
        f"24:onNegIfAny = {from_w_minus}",
    ]
    return lines + _mass_cut(choice.mass_min_gev)


def _ttbar_notes(choice: ProcessChoice) -> tuple[ProcessNote, ...]:
    from_w_plus, from_w_minus = _w_leptons(choice.final_state)
    plus, nu, _ = _LEPTON_NAMES[from_w_plus]
    minus, _, nubar = _LEPTON_NAMES[from_w_minus]
    channel = f"t t̄ → b {plus}⁺{nu} b̄ {minus}⁻{nubar}"
    pdg = W_TO_LEPTON_BR_PDG[from_w_plus] * W_TO_LEPTON_BR_PDG[from_w_minus]
    return (
        ProcessNote(
            topic="Decay channel",
            source="task",
            choice=f"{channel} only: W⁺ → {plus}⁺{nu}, W⁻ → {minus}⁻{nubar}, every other W decay (τ too) closed",
            reason=(
                "the task names this one charge assignment; the opposite one is the final state "
                f"[{_PDG_STEMS[from_w_minus]}+, {_PDG_STEMS[from_w_plus]}-], and both together have twice the σ"
            ),
            affects=("cross section", "lepton charges"),
        ),
        ProcessNote(
            topic="Branching fraction in σ",
            source="convention",
            choice=(
                f"the generator's σ is σ(tt̄) × BR(W⁺ → {plus}⁺{nu}) × BR(W⁻ → {minus}⁻{nubar}) = σ(tt̄) × "
                f"{W_TO_LEPTON_BR:.4f}² = σ(tt̄) × {W_TO_LEPTON_BR**2:.5f}, so σ(tt̄) = σ / {W_TO_LEPTON_BR**2:.5f} "
                f"and σ_fid ≤ σ; PDG branching ratios give {pdg:.4f} instead"
            ),
            reason=(
                "Pythia8 scales σ by the open decay channels, so the fiducial gate applies no further branching "
                "fraction; the numbers let σ_fid ≤ σ(tt̄) × BR be checked by hand"
            ),
            affects=("cross section", "fiducial cross section"),
        ),
        ProcessNote(
            topic="Top quark",
            source="task",
            choice=f"m_t = {TOP_MASS_GEV:g} GeV; Γ_t computed by Pythia8 from m_t (1.34 GeV; the task quotes 1.32 GeV)",
            reason="Pythia8 recomputes resonance widths at init; σ × BR in the narrow top is insensitive to Γ_t",
            affects=("cross section", "top line shape"),
        ),
    )


LEPTOQUARK_WINDOW = 0.5
"""Generated S₁ masses lie within ±50 % of the pole; Pythia8's default ``42:mMin = 50`` lets off-shell tails in."""


def _leptoquark(choice: ProcessChoice) -> list[str]:
    if choice.mass_gev is None:
        msg = "the leptoquark recipe needs process.mass_gev; the workflow validation requires it"
        raise ValueError(msg)
    mass, lepton = choice.mass_gev, abs(choice.final_state[0])
    return [
        # pair production only: LeptoQuark:all adds q g → S₁ ℓ single production, which dominates
        "LeptoQuark:gg2LQLQbar = on",
        "LeptoQuark:qqbar2LQLQbar = on",
        f"42:m0 = {mass:g}",
        f"42:mMin = {mass * (1 - LEPTOQUARK_WINDOW):g}",
        f"42:mMax = {mass * (1 + LEPTOQUARK_WINDOW):g}",
        # Pythia8 reads the S₁ flavour couplings from its first decay channel: S₁ → u ℓ⁻ with BR = 1
        f"42:oneChannel = 1 1.0 0 2 {lepton}",
        *_mass_cut(choice.mass_min_gev),
    ]


def _leptoquark_notes(choice: ProcessChoice) -> tuple[ProcessNote, ...]:
    lepton = _PDG_STEMS.get(abs(choice.final_state[0]), "ℓ")
    return (
        ProcessNote(
            topic="Leptoquark model",
            source="convention",
            choice=(
                f"Pythia8's scalar leptoquark (PDG 42, charge −1/3) as S₁, coupling to u and {lepton} only, "
                "BR(S₁ → u ℓ) = 1 (β = 1); Yukawa coupling LeptoQuark:kCoup = 1 (Pythia8 default)"
            ),
            reason="the offline stack has no UFO model; Pythia8's built-in leptoquark has the S₁ quantum numbers",
            affects=("cross section", "decay products", "width"),
        ),
        ProcessNote(
            topic="Production mode",
            source="convention",
            choice="pair production only (gg → S₁S̄₁, qq̄ → S₁S̄₁); single production q g → S₁ ℓ is off",
            reason="the task asks for pair production; Pythia8's LeptoQuark:all would add single production",
            affects=("cross section", "event topology"),
        ),
        ProcessNote(
            topic="Leptoquark line shape",
            source="convention",
            choice=f"generated S₁ masses limited to ±{LEPTOQUARK_WINDOW:.0%} around the pole mass",
            reason="Pythia8's default lower limit of 50 GeV would let far off-shell tails in",
            affects=("cross section", "resonance tails"),
        ),
    )


CATALOGUE: dict[str, ProcessRecipe] = {
    "drell_yan": ProcessRecipe(
        description="pp → Z/γ* → ℓℓ",
        latex=r"pp \to Z/\gamma^{{*}} \to {products}",
        final_states=((13, -13), (11, -11), (15, -15)),
        resonances=(23,),
        settings=_drell_yan,
    ),
    "ttbar": ProcessRecipe(
        description="pp → tt̄ → b ℓ⁺ν b̄ ℓ'⁻ν̄ (eμ, one charge assignment)",
        latex=r"pp \to t\bar{{t}} \to b\bar{{b}}\,{products}\,\nu\bar{{\nu}}",
        final_states=((-11, 13), (11, -13)),
        # the top's table (t → W b) and the W⁺ and W⁻ tables show which lepton channels are open
        resonances=(6, 24, -24),
        settings=_ttbar,
        notes=_ttbar_notes,
    ),
    "leptoquark_s1": ProcessRecipe(
        description="pp → S₁S̄₁ → (u ℓ⁻)(ū ℓ⁺), scalar leptoquark pair production",
        latex=r"pp \to S_1\bar{{S}}_1 \to u\bar{{u}}\,{products}",
        final_states=((11, -11), (13, -13)),
        resonances=(42,),
        settings=_leptoquark,
        notes=_leptoquark_notes,
        new_particle="S₁ leptoquark",
    ),
}
