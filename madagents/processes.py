"""Hard processes the offline stack can generate with Pythia8's built-in matrix elements.

Each entry turns a validated process request into Pythia8 settings. References: the Pythia8 manual,
"Electroweak Processes" (WeakSingleBoson) and "Particle Data" (onMode / onIfMatch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CATALOGUE", "ProcessRecipe"]


@dataclass(frozen=True, slots=True)
class ProcessRecipe:
    """How to generate one named process."""

    description: str
    """Human-readable reaction, used in reports."""
    latex: str
    """Reaction in mathtext for plot legends; ``{products}`` stands for the final state."""
    final_states: tuple[tuple[int, int], ...]
    """Allowed decay products (PDG ids) of the resonance."""
    resonance: int
    """PDG id of the s-channel resonance whose decay table is checked."""
    settings: Callable[[tuple[int, int], float | None], list[str]]
    """(final state, minimum invariant mass of the hard process in GeV) -> Pythia8 settings."""


def _drell_yan(final_state: tuple[int, int], mass_min_gev: float | None) -> list[str]:
    lepton = abs(final_state[0])
    lines = [
        "WeakSingleBoson:ffbar2gmZ = on",
        # Full γ*/Z interference; only the requested lepton flavour is open, so σ already includes the BR.
        "23:onMode = off",
        f"23:onIfMatch = {lepton} {-lepton}",
    ]
    if mass_min_gev is not None:
        lines.append(f"PhaseSpace:mHatMin = {mass_min_gev:g}")
    return lines


CATALOGUE: dict[str, ProcessRecipe] = {
    "drell_yan": ProcessRecipe(
        description="pp → Z/γ* → ℓℓ",
        latex=r"pp \to Z/\gamma^{{*}} \to {products}",
        final_states=((13, -13), (11, -11), (15, -15)),
        resonance=23,
        settings=_drell_yan,
    ),
}
