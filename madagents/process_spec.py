"""The ``process`` of a workflow: a catalogue name with its final state and parameters, or Pythia8 switches and
particle data of the workflow's own (with ``produces`` declaring its resonances)."""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from madagents.processes import CATALOGUE, FinalState, ProcessChoice, ProcessRecipe, load_catalogue, product_key
from madagents.pythia8_names import check_setting, particle_id
from madagents_tools.generation import mg5_generate

__all__ = ["Mg5Process", "ParticleData", "ProcessSpec", "Pythia8Process"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParticleData(_Strict):
    """Pythia8 particle data for a process given by its switches: mass, width and the decay channels left open."""

    particle: str = Field(description="PDG id, Pythia8, MG5 or PDG name.", examples=["Z'0"])
    mass_gev: float | None = Field(default=None, gt=0, description="Pole mass (ID:m0).", examples=[3000])
    width_gev: float | None = Field(default=None, gt=0, description="Width (ID:mWidth); resonances recompute it.")
    decays: list[list[str]] = Field(
        default_factory=list,
        description="Decay channels to keep open (each a list of products); every other channel is closed.",
        examples=[[["mu+", "mu-"]]],
    )

    @field_validator("particle")
    @classmethod
    def _known_particle(cls, name: str) -> str:
        particle_id(name)
        return name

    @field_validator("decays")
    @classmethod
    def _known_products(cls, channels: list[list[str]]) -> list[list[str]]:
        for channel in channels:
            for name in channel:
                particle_id(name)
        return channels

    def settings(self) -> list[str]:
        pdg = particle_id(self.particle)
        lines = [f"{pdg}:m0 = {self.mass_gev:g}"] if self.mass_gev is not None else []
        lines += [f"{pdg}:mWidth = {self.width_gev:g}"] if self.width_gev is not None else []
        if self.decays:
            lines.append(f"{pdg}:onMode = off")
            lines += [f"{pdg}:onIfMatch = {' '.join(str(particle_id(n)) for n in channel)}" for channel in self.decays]
        return lines


class Pythia8Process(_Strict):
    """A hard process outside the catalogue: Pythia8 process switches plus particle data."""

    switches: list[str] = Field(
        min_length=1, description="Pythia8 process switches.", examples=[["NewGaugeBoson:ffbar2Wprime = on"]]
    )
    particles: list[ParticleData] = Field(default_factory=list, description="Masses, widths, open decay channels.")

    @field_validator("switches")
    @classmethod
    def _pythia8_knows_them(cls, lines: list[str]) -> list[str]:
        for line in lines:
            check_setting(line)
        return lines

    def settings(self) -> list[str]:
        return [*self.switches, *(line for particle in self.particles for line in particle.settings())]


class ProcessSpec(_Strict):
    """The hard process: a catalogue name (``madagents processes``), or Pythia8 switches, or (with generator mg5)
    the MG5 lines alone; ``produces`` declares the resonances a process outside the catalogue makes."""

    name: str | None = Field(default=None, description="Process from the catalogue.", examples=["drell_yan"])
    pythia8: Pythia8Process | None = Field(default=None, description="A process given by Pythia8 switches.")
    final_state: list[str] | None = Field(
        default=None,
        description="Decay products: particle names or labels (l, nu, j, any); one of the catalogue's final states.",
        examples=[["mu+", "mu-"]],
    )
    produces: list[str] = Field(
        default_factory=list, description="Resonances a process outside the catalogue produces.", examples=[["W'+"]]
    )
    mass_min_gev: float | None = Field(
        default=None, gt=0, description="Minimum invariant mass of the hard process (m̂).", examples=[60]
    )
    mass_gev: float | None = Field(
        default=None, gt=0, description="Mass of the new particle, for processes that produce one.", examples=[1000]
    )
    pthat_min_gev: float | None = Field(default=None, gt=0, description="Minimum p̂T of the hard process.")
    lambda_gev: float | None = Field(default=None, gt=0, description="Compositeness / contact-interaction scale Λ.")

    @field_validator("name")
    @classmethod
    def _known_process(cls, name: str | None) -> str | None:
        if name is not None and name not in CATALOGUE:
            close = difflib.get_close_matches(name, CATALOGUE, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            msg = f"unknown process {name!r}; {hint}the catalogue (madagents processes) has {sorted(CATALOGUE)}"
            raise ValueError(msg)
        return name

    @field_validator("produces")
    @classmethod
    def _known_particles(cls, names: list[str]) -> list[str]:
        for name in names:
            particle_id(name)
        return names

    @model_validator(mode="after")
    def _one_source(self) -> ProcessSpec:
        if self.name is not None and self.pythia8 is not None:
            msg = "give either a catalogue name or pythia8 switches, not both"
            raise ValueError(msg)
        if self.name is not None:
            self.choice()  # final state and parameters against the catalogue entry
        elif any(value is not None for value in self.parameters().values()):
            msg = "mass_gev, mass_min_gev, pthat_min_gev and lambda_gev belong to catalogue processes; set the "
            msg += "particle data or PhaseSpace settings yourself"
            raise ValueError(msg)
        return self

    def parameters(self) -> dict[str, float | None]:
        return {
            "mass_gev": self.mass_gev,
            "mass_min_gev": self.mass_min_gev,
            "pthat_min_gev": self.pthat_min_gev,
            "lambda_gev": self.lambda_gev,
        }

    def recipe(self) -> ProcessRecipe | None:
        return CATALOGUE[self.name] if self.name is not None else None

    def choice(self) -> ProcessChoice:
        """The catalogue entry's final state and parameter values (defaults filled in); ``ValueError`` if invalid."""
        recipe = self.recipe()
        if recipe is None:
            msg = "only a catalogue process has a choice"
            raise ValueError(msg)
        given = {name: value for name, value in self.parameters().items() if value is not None}
        for name in given:
            if name not in recipe.parameters:
                accepted = ", ".join(recipe.parameters) or "none"
                msg = f"process {self.name} takes no {name}; its parameters: {accepted}; remove {name}"
                raise ValueError(msg)
        values = dict(given)
        for name, parameter in recipe.parameters.items():
            if name not in values and parameter.required:
                msg = f"process {self.name} needs {name} ({parameter.description}); add e.g. {name}: 1000"
                raise ValueError(msg)
            if name not in values and parameter.default is not None:
                values[name] = parameter.default
        return ProcessChoice(final_state=self._final_state(recipe), parameters=values)

    def _final_state(self, recipe: ProcessRecipe) -> FinalState:
        labels = load_catalogue().labels
        options = "; ".join(f"[{', '.join(state.products)}]" for state in recipe.final_states) or "none"
        if not recipe.final_states:
            lines = "; ".join(recipe.mg5.processes) if recipe.mg5 is not None else "your own"
            msg = (
                f"process {self.name} has no Pythia8 matrix element: use generator: {{name: mg5}} with its MG5 lines "
                f"({lines}) and leave process.name out (process: {{produces: [...]}} names its resonances)"
            )
            raise ValueError(msg)
        if self.final_state is None:
            if len(recipe.final_states) == 1:
                return recipe.final_states[0]
            msg = f"process {self.name} needs final_state, one of: {options}"
            raise ValueError(msg)
        wanted = sorted(map(str, (product_key(name, labels) for name in self.final_state)))
        for state in recipe.final_states:
            if sorted(map(str, (product_key(name, labels) for name in state.products))) == wanted:
                return state
        msg = f"process {self.name} cannot produce {self.final_state}; choose one of {options}"
        raise ValueError(msg)

    def resonances(self) -> list[int]:
        recipe = self.recipe()
        declared = [particle_id(name) for name in self.produces]
        if self.pythia8 is not None:
            declared += [particle_id(p.particle) for p in self.pythia8.particles if p.decays]
        return list(dict.fromkeys([*(recipe.resonances if recipe else ()), *declared]))

    def pdg_ids(self) -> tuple[int, ...]:
        """The final state's particles (labels such as ``nu`` or ``j`` are left out)."""
        labels = load_catalogue().labels
        keys = (product_key(name, labels) for name in self.final_state or [])
        return tuple(key for key in keys if isinstance(key, int))


class Mg5Process(_Strict):
    """The hard process as MadGraph5_aMC@NLO generates it; Pythia8 then showers its LHE events."""

    model: str = Field(default="sm", description="UFO model, with an optional restriction.", examples=["sm"])
    definitions: list[str] = Field(default_factory=list, description="MG5 multiparticle labels ('l+ = e+ mu+').")
    processes: list[str] = Field(
        min_length=1, description="MG5 process lines, decay chains included.", examples=[["p p > mu+ mu-"]]
    )
    run_card: dict[str, str | bool | int | float] = Field(
        default_factory=dict,
        description="run_card.dat entries besides beams, events and seed.",
        examples=[{"mmll": 60}],
    )
    param_card: dict[str, float] = Field(
        default_factory=dict, description="param_card.dat entries ('BLOCK ID': value).", examples=[{"mass 6": 172.5}]
    )

    @model_validator(mode="after")
    def _valid_mg5_request(self) -> Mg5Process:
        # the tool's own validation (no injected MG5 commands, reserved run-card keys) runs when the workflow loads
        try:
            self.request(seed=1, n_events=1, beam_energies_gev=(6500.0, 6500.0))
        except ValidationError as exc:
            raise ValueError("; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())) from None
        return self

    def request(self, *, seed: int, n_events: int, beam_energies_gev: tuple[float, float]) -> mg5_generate.Request:
        ebeam1, ebeam2 = beam_energies_gev
        return mg5_generate.Request(
            model=self.model,
            definitions=self.definitions,
            processes=self.processes,
            run_card={"ebeam1": ebeam1, "ebeam2": ebeam2, **self.run_card},
            param_card=self.param_card,
            seed=seed,
            n_events=n_events,
        )
