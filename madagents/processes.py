"""The process catalogue (``processes.yaml``, package data) as typed models, and how a choice becomes settings.

Physics knowledge lives in the YAML: Pythia8 switches, particles, decay channels, parameters with their
defaults and reasons, MG5 lines. This module only loads it, checks every setting name against Pythia8's own
database, and renders the settings of one workflow's choice.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from madagents.pythia8_names import check_setting, particle_id, particle_name

__all__ = [
    "CATALOGUE",
    "Catalogue",
    "FinalState",
    "Mg5Lines",
    "NewParticle",
    "Parameter",
    "ParameterSummary",
    "ProcessChoice",
    "ProcessNote",
    "ProcessRecipe",
    "ProcessSummary",
    "catalogue_summaries",
    "load_catalogue",
    "product_key",
    "render_settings",
]

ParameterName = Literal["mass_gev", "mass_min_gev", "pthat_min_gev", "lambda_gev"]
"""Catalogue-declared parameters; each is a field of the workflow's ``process``."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProcessNote(_Data):
    """A process-specific choice, listed among the run's assumptions."""

    topic: str
    choice: str
    source: Literal["task", "default", "convention"]
    reason: str
    affects: tuple[str, ...]


class Parameter(_Data):
    description: str
    required: bool = False
    default: float | None = Field(default=None, gt=0)
    reason: str = Field(default="", description="Why the default; goes into the assumptions log.")
    settings: tuple[str, ...] = Field(description="Pythia8 lines (Jinja: ``value`` is the parameter's value).")

    @model_validator(mode="after")
    def _default_has_reason(self) -> Parameter:
        if self.default is not None and not self.reason:
            msg = f"parameter default {self.default} needs a reason for the assumptions log"
            raise ValueError(msg)
        return self


class FinalState(_Data):
    """One decay channel the process can be asked for."""

    products: tuple[str, ...] = Field(description="Particle names or catalogue labels (l, nu, j, any).")
    latex: str | None = Field(default=None, description="Mathtext for the products; default: particles' names.")
    switches: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    notes: tuple[ProcessNote, ...] = ()


class NewParticle(_Data):
    id: int
    name: str


class Mg5Lines(_Data):
    model: str = "sm"
    processes: tuple[str, ...]
    note: str = ""


class ProcessRecipe(_Data):
    """How to generate one named process."""

    description: str
    latex: str = Field(description="Reaction in mathtext; ``{products}`` stands for the final state.")
    switches: tuple[str, ...] = Field(default=(), description="Pythia8 process switches; none: MG5 only.")
    settings: tuple[str, ...] = ()
    resonances: tuple[int, ...] = ()
    new_particle: NewParticle | None = None
    parameters: dict[ParameterName, Parameter] = Field(default_factory=dict)
    final_states: tuple[FinalState, ...] = ()
    notes: tuple[ProcessNote, ...] = ()
    mg5: Mg5Lines | None = None

    @property
    def pythia8(self) -> bool:
        """Whether Pythia8's own matrix elements generate it (else only the MG5 lines do)."""
        return bool(self.switches) or any(state.switches for state in self.final_states)

    def all_switches(self) -> tuple[str, ...]:
        return self.switches + tuple(switch for state in self.final_states for switch in state.switches)


class Catalogue(_Data):
    labels: dict[str, str]
    processes: dict[str, ProcessRecipe]
    process_groups: tuple[str, ...] = Field(description="Pythia8 setting groups that hold process switches.")

    @model_validator(mode="after")
    def _names_pythia8_knows(self) -> Catalogue:
        # a misspelt switch in the catalogue would reach users as a generator failure: fail at load instead
        for name, recipe in self.processes.items():
            lines = [*recipe.all_switches(), *recipe.settings]
            lines += [line for p in recipe.parameters.values() for line in p.settings]
            lines += [line for state in recipe.final_states for line in state.settings]
            for line in lines:
                try:
                    check_setting(line)
                except ValueError as exc:
                    msg = f"catalogue entry {name}: {exc}"
                    raise ValueError(msg) from None
            for state in recipe.final_states:
                for product in state.products:
                    product_key(product, self.labels)
        return self


class ProcessChoice(BaseModel):
    """What a workflow asks of a catalogue process: its final state and parameter values."""

    model_config = ConfigDict(frozen=True)

    final_state: FinalState
    parameters: dict[str, float]


def product_key(name: str, labels: dict[str, str]) -> str | int:
    """A final-state entry as compared: a catalogue label as is, a particle as its PDG id."""
    if name in labels:
        return name
    return particle_id(name)


@functools.cache
def load_catalogue() -> Catalogue:
    text = resources.files("madagents").joinpath("processes.yaml").read_text(encoding="utf-8")
    # libyaml parses the shipped catalogue ten times faster than PyYAML's Python loader (90 ms, at every start)
    return Catalogue.model_validate(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


_TEMPLATES = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
_TEMPLATES.filters["g"] = lambda value: f"{float(value):g}"


def render_settings(recipe: ProcessRecipe, choice: ProcessChoice) -> list[str]:
    """The Pythia8 lines of a choice: switches, fixed settings, the final state's, then each parameter's."""
    values = choice.parameters
    lines = [*recipe.switches, *choice.final_state.switches, *recipe.settings, *choice.final_state.settings]
    rendered = [_TEMPLATES.from_string(line).render(**values) for line in lines]
    for name, parameter in recipe.parameters.items():
        if name in values:
            rendered += [_TEMPLATES.from_string(line).render(value=values[name]) for line in parameter.settings]
    return rendered


class ParameterSummary(BaseModel):
    description: str
    required: bool
    default: float | None


class ProcessSummary(BaseModel):
    """One catalogue entry as ``madagents processes``, the planner's prompt and the chat list it."""

    name: str
    description: str
    generators: list[Literal["pythia8", "mg5"]]
    final_states: list[list[str]]
    parameters: dict[str, ParameterSummary]
    resonances: list[str]
    mg5: Mg5Lines | None


def catalogue_summaries() -> list[ProcessSummary]:
    return [
        ProcessSummary(
            name=name,
            description=recipe.description,
            generators=_generators(recipe),
            final_states=[list(state.products) for state in recipe.final_states],
            parameters={
                key: ParameterSummary(description=p.description, required=p.required, default=p.default)
                for key, p in recipe.parameters.items()
            },
            resonances=[particle_name(pdg) for pdg in recipe.resonances],
            mg5=recipe.mg5,
        )
        for name, recipe in load_catalogue().processes.items()
    ]


def _generators(recipe: ProcessRecipe) -> list[Literal["pythia8", "mg5"]]:
    found: list[Literal["pythia8", "mg5"]] = []
    if recipe.pythia8:
        found.append("pythia8")
    if recipe.mg5 is not None:
        found.append("mg5")
    return found


CATALOGUE = load_catalogue().processes
