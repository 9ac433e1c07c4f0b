"""What the plan takes from the workflow's process: Pythia8 lines, the plot label and the peak expectations.

Labels name what is generated: the catalogue entry (whose switches extra settings may not override, see
:mod:`madagents.switches`), the Pythia8 switches of a process outside the catalogue, or the MG5 process lines.
"""

from __future__ import annotations

from madagents.processes import load_catalogue, render_settings
from madagents.pythia8_names import particle_id, particle_mass_gev, particle_width_gev, setting_key
from madagents.state import PeakExpectation
from madagents.workflow import NEW_PARTICLE, PeakCheck, ProcessSpec, Workflow

__all__ = ["PARTICLE_LATEX", "pdg_latex", "peak_expectation", "process_label", "process_settings"]

_LABEL_LATEX = {"l": r"\ell", "l+": r"\ell^{+}", "l-": r"\ell^{-}", "e": "e", "mu": r"\mu", "tau": r"\tau"}
_LABEL_LATEX |= {"nu": r"\nu", "j": "j", "any": r"\mathrm{all}"}
PARTICLE_LATEX = {"e+": "e^{+}", "e-": "e^{-}", "mu+": r"\mu^{+}", "mu-": r"\mu^{-}", "ta+": r"\tau^{+}"}
PARTICLE_LATEX |= {"ta-": r"\tau^{-}", "gamma": r"\gamma", "b": "b", "b~": r"\overline{b}"}
"""The PDG table's LaTeX names of the particles in the catalogue's final states: loading the table takes 0.2 s of
every run's plan (tests check the two agree)."""


def process_settings(process: ProcessSpec) -> list[str]:
    """The Pythia8 lines of the hard process (a catalogue entry's, or the workflow's own switches and particles)."""
    recipe = process.recipe()
    if recipe is not None:
        return render_settings(recipe, process.choice())
    if process.pythia8 is not None:
        return process.pythia8.settings()
    return []


def process_label(workflow: Workflow, *, with_energy: bool = True) -> str:
    """The reaction as the plots' legends show it (a plot of several samples states √s once, not per sample)."""
    label = _reaction(workflow)
    return f"{label}, √s = {workflow.beams.sqrt_s_gev / 1000:g} TeV" if with_energy else label


def _reaction(workflow: Workflow) -> str:
    mg5, process = workflow.generator.mg5, workflow.process
    if mg5 is not None:
        return f"MG5 ({mg5.model}) {'; '.join(mg5.processes)} + Pythia8"
    recipe = process.recipe()
    if recipe is None and process.pythia8 is not None:
        return f"Pythia8 {', '.join(line.partition('=')[0].strip() for line in process.pythia8.switches)}"
    if recipe is None:
        msg = "a workflow validates only with a catalogue process, Pythia8 switches or MG5 lines"
        raise ValueError(msg)
    state = process.choice().final_state
    products = state.latex if state.latex is not None else _products_latex(state.products)
    reaction = recipe.latex.replace("{products}", products)
    return f"Pythia8 ${reaction}$"


def _products_latex(names: tuple[str, ...]) -> str:
    labels = load_catalogue().labels
    parts = []
    for name in sorted(names):
        if name in labels:
            parts.append(_LABEL_LATEX.get(name, name))
        else:
            parts.append(PARTICLE_LATEX.get(name) or pdg_latex(name))
    return "".join(parts)


def pdg_latex(name: str) -> str:
    """A particle's LaTeX name from the PDG table."""
    from particle import Particle  # noqa: PLC0415 - the PDG table loads slowly

    return str(Particle.from_pdgid(particle_id(name)).latex_name)


def peak_expectation(check: PeakCheck, workflow: Workflow, settings: list[str]) -> PeakExpectation:
    """Where a resonance must peak: at the mass the generator settings give it (its ``ID:m0``), else Pythia8's."""
    recipe = workflow.process.recipe()
    if check.particle == NEW_PARTICLE:
        new = recipe.new_particle if recipe is not None else None
        pdg, name = (new.id, new.name) if new is not None else (0, check.particle)
    else:
        pdg, name = particle_id(check.particle), check.particle
    mass = _set_mass(settings, pdg)
    # Pythia8 computes the width at the mass the settings give; the peak gate compares positions only
    width = 0.0 if mass is not None or check.particle == NEW_PARTICLE else particle_width_gev(abs(pdg))
    if mass is None:
        mass = workflow.process.mass_gev if check.particle == NEW_PARTICLE else particle_mass_gev(abs(pdg))
    return PeakExpectation(histogram=check.histogram, particle=name, mass_gev=mass or 0.0, width_gev=width)


def _set_mass(settings: list[str], pdg: int) -> float | None:
    """The last ``ID:m0 = value`` of the settings for this particle (by any of its names), if any."""
    mass = None
    for line in settings:
        key = setting_key(line)
        head, _, prop = key.rpartition(":")
        if prop == "m0" and head and _same_particle(head, pdg):
            mass = float(line.partition("=")[2])
    return mass


def _same_particle(name: str, pdg: int) -> bool:
    try:
        return abs(particle_id(name)) == abs(pdg)
    except ValueError:
        return False
