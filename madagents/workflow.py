"""Declarative workflows (``workflows/*.yaml``): parsed and validated before anything runs.

A workflow says what to simulate and how to analyse it. Every mistake is reported as one paragraph that names
the field and shows what to write instead (:func:`load_workflow` raises :class:`UserInputError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from madagents.detector_cards import delphes_card_text, load_detector_card
from madagents.detector_level import detector_conflict
from madagents.errors import UserInputError
from madagents.input_errors import describe_errors
from madagents.process_spec import Mg5Process, ProcessSpec
from madagents.pythia8_names import check_setting, particle_id, particle_name
from madagents.reference import ReferenceCheck, check_reference
from madagents.samples import Sample, check_samples, sized_samples
from madagents.switches import switch_override
from madagents_tools.analysis.analysis_spec import AnalysisSpec
from madagents_tools.detector.detector_card import DetectorCard
from madagents_tools.ml import amplitude_surrogate

__all__ = [
    "NEW_PARTICLE",
    "AnyWorkflow",
    "Beams",
    "Checks",
    "DetectorSpec",
    "EdgeCheck",
    "GeneratorSettings",
    "MLGeneratorSpec",
    "Mg5Process",
    "PeakCheck",
    "ProcessSpec",
    "Sample",
    "SurrogateWorkflow",
    "Workflow",
    "load_any_workflow",
    "load_workflow",
    "workflow_from_yaml",
]

BEAM_PDG = {"p": 2212, "pbar": -2212}
MAX_EVENTS = 2**63
"""Event counts are 64-bit signed integers in the checkpoints and in Pythia8."""
NEW_PARTICLE = "new"
"""Peak checks name the process's new particle (e.g. a leptoquark) by this word: it has no PDG name."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Beams(_Strict):
    particles: tuple[Literal["p", "pbar"], Literal["p", "pbar"]] = Field(default=("p", "p"), examples=[["p", "p"]])
    sqrt_s_gev: float = Field(gt=0, description="Centre-of-mass energy in GeV.", examples=[13000])


class GeneratorSettings(_Strict):
    name: Literal["pythia8", "mg5"] = Field(
        default="pythia8",
        description="pythia8: Pythia8's own hard process; mg5: MadGraph5 hard process showered by Pythia8.",
    )
    mg5: Mg5Process | None = Field(default=None, description="The MG5 hard process, for name: mg5.")
    shower: bool = Field(default=True, description="Initial- and final-state parton showers.")
    mpi: bool = Field(default=True, description="Multiparton interactions (underlying event).")
    hadronisation: bool = True
    pdf: str | None = Field(
        default=None,
        description="Pythia8 PDF:pSet value; unset keeps Pythia8's default (NNPDF2.3 QCD+QED LO).",
        examples=["LHAGrid1:NNPDF31_nnlo_as_0118_luxqed_0000.dat"],
    )
    settings: list[str] = Field(
        default_factory=list, description="Extra Pythia8 lines, applied last.", examples=[["Tune:pp = 14"]]
    )
    chunks: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Split generation into this many seeded chunks run in parallel, then merged; the chunk "
        "seeds derive from the run seed, so a result depends on the number of chunks, never on the workers.",
        examples=[4],
    )
    hepmc: bool = Field(
        default=False, description="Also write events/events.hepmc3 (~50 kB/event; Delphes gets it anyway)."
    )

    @model_validator(mode="after")
    def _mg5_process_with_mg5(self) -> GeneratorSettings:
        if self.name == "mg5" and self.mg5 is None:
            msg = "generator name mg5 needs the MG5 process: add mg5: {processes: ['p p > mu+ mu-']}"
            raise ValueError(msg)
        if self.name == "pythia8" and self.mg5 is not None:
            msg = "generator.mg5 is used with name: mg5 only; set name: mg5 or remove mg5"
            raise ValueError(msg)
        if self.name == "mg5" and self.chunks > 1:
            msg = "chunks split Pythia8's own generation; for MG5 use its run_mode/cluster settings instead"
            raise ValueError(msg)
        return self

    @field_validator("settings")
    @classmethod
    def _looks_like_settings(cls, lines: list[str]) -> list[str]:
        for line in lines:
            if "=" not in line:
                msg = f"generator setting {line!r} is not of the form 'Group:key = value'"
                raise ValueError(msg)
            check_setting(line)
        return lines


class DetectorSpec(_Strict):
    """Detector simulation between generation and analysis; without it the analysis runs on particle level."""

    backend: Literal["parametric", "delphes"] = Field(
        default="parametric",
        description="parametric: madagents' efficiency/resolution card (always available); delphes: DelphesHepMC3.",
    )
    card: str = Field(
        default="atlas",
        description="parametric: atlas, cms or the path of a YAML card; delphes: a Delphes .tcl card.",
        examples=["atlas"],
    )

    @model_validator(mode="after")
    def _card_exists(self) -> DetectorSpec:
        if self.backend == "parametric":
            load_detector_card(self.card)  # its ValueError names the shipped cards
        else:
            delphes_card_text(self.card)  # its ValueError says what to give, or which `source` line fails
        return self

    def parametric_card(self) -> DetectorCard:
        return load_detector_card(self.card)


class MLGeneratorSpec(_Strict):
    """A conditional flow-matching generator learns the sample's leading object pair and generates new events;
    a classifier two-sample test then compares them with the sample, and the same analysis runs on both."""

    collection: Literal["muon", "electron"] = Field(default="muon", description="Its two leading objects are learnt.")
    n_events: int = Field(gt=0, le=10_000_000, description="Events to generate.", examples=[5000])
    epochs: int = Field(default=150, gt=0, le=100_000, description="Training passes of the flow.", examples=[150])
    classifier_epochs: int = Field(default=30, gt=0, le=100_000, description="Training passes of the classifier.")


class PeakCheck(_Strict):
    histogram: str = Field(examples=["m_mumu"])
    particle: str = Field(
        description="A resonance the process produces (PDG id, Pythia8, MG5 or PDG name: Z0, Z'0, W'+, h), checked "
        "at its generated mass; or 'new' for the process's new particle (at process.mass_gev).",
        examples=["Z0"],
    )

    @field_validator("particle")
    @classmethod
    def _known(cls, name: str) -> str:
        if name != NEW_PARTICLE:
            particle_id(name)
        return name


class EdgeCheck(PeakCheck):
    """A transverse-mass histogram of a charged resonance decaying to ℓν: its Jacobian edge lies at the mass."""

    histogram: str = Field(examples=["m_t"])
    particle: str = Field(
        description="The resonance decaying to a lepton and a neutrino (W+, W'+; PDG id, Pythia8, MG5 or PDG "
        "name), checked at its generated mass; or 'new' for the process's new particle (at process.mass_gev).",
        examples=["W'+"],
    )


class Checks(_Strict):
    peaks: list[PeakCheck] = Field(default_factory=list, description="Histograms that must peak at a mass.")
    edges: list[EdgeCheck] = Field(
        default_factory=list,
        description="m_T histograms (mt(lepton)) whose Jacobian edge must lie at a charged resonance's mass.",
        exclude_if=lambda value: not value,  # dumps without edges read as before (the cassettes pin them)
    )
    # absent from dumps when unset, so workflow.yaml of a run without one reads as before
    reference: ReferenceCheck | None = Field(default=None, exclude_if=lambda value: value is None)


class Workflow(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", examples=["drell_yan"])
    description: str = ""
    beams: Beams
    process: ProcessSpec
    generator: GeneratorSettings = GeneratorSettings()
    detector: DetectorSpec | None = Field(default=None, description="Detector simulation; none means particle level.")
    ml_generator: MLGeneratorSpec | None = Field(
        default=None, description="Learn the sample with a flow-matching generator and test what it generates."
    )
    events: int = Field(gt=0, description="Number of events to generate.", examples=[10000])
    seed: int = Field(ge=1, lt=2**63, description="The one run seed; every other seed derives from it.", examples=[1])
    analysis: AnalysisSpec
    checks: Checks = Checks()
    samples: list[Sample] = Field(
        default_factory=list,
        description="Several samples in one workflow (signal and backgrounds), each analysed alike and plotted "
        "together (analysis.plots.style and ratio). One entry without a process is the workflow's own.",
        exclude_if=lambda value: not value,  # a single-sample workflow dumps as before
    )

    @field_validator("events")
    @classmethod
    def _fits_64_bits(cls, events: int) -> int:
        # a validator, not a bound in the schema: the schema is what the model sees (and cassettes pin)
        if events >= MAX_EVENTS:
            msg = f"Input should be less than 2^63 = {MAX_EVENTS}"
            raise ValueError(msg)
        return events

    @model_validator(mode="after")
    def _enough_events_per_chunk(self) -> Workflow:
        if self.generator.chunks > self.events:
            msg = f"generator.chunks = {self.generator.chunks} is more than the {self.events} events; lower it"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _checks_refer_to_histograms(self) -> Workflow:
        names = {spec.name for spec in self.analysis.histograms}
        checks = [("checks.peaks", check) for check in self.checks.peaks]
        checks += [("checks.edges", check) for check in self.checks.edges]
        for where, peak in checks:
            if peak.histogram not in names:
                msg = f"{where} refers to histogram {peak.histogram!r}; defined histograms are {sorted(names)}"
                raise ValueError(msg)
            if peak.particle == NEW_PARTICLE and self.process.mass_gev is None:
                msg = f"{where} particle 'new' needs a process with a new particle; {self.process.name} has none"
                raise ValueError(msg)
            declared = {abs(pdg) for pdg in self.process.resonances()}
            if peak.particle != NEW_PARTICLE and abs(particle_id(peak.particle)) not in declared:
                known = ", ".join(particle_name(pdg) for pdg in sorted(declared)) or "none"
                msg = (
                    f"{where} particle {peak.particle!r} is not a resonance the process produces ({known}); "
                    "check a declared resonance, or declare it in process.produces"
                )
                raise ValueError(msg)
        check_reference(self.checks.reference, self.analysis.histograms)  # a bad file: an input error, now
        return self

    @model_validator(mode="after")
    def _analysis_fits_the_detector(self) -> Workflow:
        if self.detector is not None:
            problem = detector_conflict(self.analysis, self.detector.backend, self.detector.card)
            if problem:
                raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _process_fits_the_generator(self) -> Workflow:
        process, generator = self.process, self.generator
        if generator.name == "mg5":
            if process.pythia8 is not None:
                msg = "process.pythia8 switches are for generator pythia8; with mg5 the MG5 lines are the process"
                raise ValueError(msg)
            return self
        recipe = process.recipe()
        if recipe is not None and not recipe.pythia8:
            msg = f"process {process.name} has no Pythia8 matrix element; use generator mg5 with its MG5 lines"
            raise ValueError(msg)
        if recipe is not None:
            own = list(recipe.all_switches())
        elif process.pythia8 is not None:
            own = process.pythia8.switches
        else:
            msg = "process needs a catalogue name (madagents processes) or pythia8 switches, or generator mg5"
            raise ValueError(msg)
        problem = switch_override(own, generator.settings)
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _samples_fit(self) -> Workflow:
        check_samples(self)
        return self

    def own_sample(self) -> Sample:
        """The entry of ``samples`` that stands for the workflow's own process (only with samples)."""
        return next(sample for sample in self.samples if sample.process is None)

    def other_samples(self) -> list[Sample]:
        return [sample for sample in self.samples if sample.process is not None]

    def sample_workflow(self, sample: Sample, seed: int) -> Workflow:
        """The single-sample workflow that generates and analyses ``sample`` (its process, events and seed)."""
        generator = self.generator.model_copy(
            update={"name": "pythia8" if sample.mg5 is None else "mg5", "mg5": sample.mg5}
        )
        fields = {name: getattr(self, name) for name in ("name", "description", "beams", "detector")}
        data = {**fields, "analysis": self.single_sample_analysis(), "generator": generator, "seed": seed}
        return Workflow.model_validate({**data, "process": sample.process, "events": sample.events or self.events})

    def single_sample_analysis(self) -> AnalysisSpec:
        """The analysis each sample runs alone: the workflow's, without the options that draw samples together."""
        plots = self.analysis.plots.model_copy(update={"style": None, "ratio": None, "ratio_reference": None})
        return self.analysis.model_copy(update={"plots": plots})


class SurrogateChecks(_Strict):
    fraction_within_1pct_min: float = Field(
        default=0.85, gt=0.0, le=1.0, description="Share of held-out points the surrogate must get within 1 %."
    )


class SurrogateWorkflow(_Strict):
    """Train a neural surrogate of a squared matrix element on amplitudes from a real amplitude code (ufoamp)."""

    kind: Literal["amplitude_surrogate"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", examples=["ml_amplitudes"])
    description: str = ""
    seed: int = Field(ge=1, lt=2**63, description="The one run seed; the training seed derives from it.")
    surrogate: amplitude_surrogate.Request = Field(description="Process, phase space, network and training.")
    checks: SurrogateChecks = SurrogateChecks()

    @field_validator("surrogate", mode="before")
    @classmethod
    def _seed_from_the_run(cls, value: Any) -> Any:
        # defaults pass: a checkpoint stores the whole model, and a reload must validate what was dumped
        fields = amplitude_surrogate.Request.model_fields
        if isinstance(value, dict) and any(
            value.get(key, fields[key].default) != fields[key].default for key in ("seed", "out_dir")
        ):
            msg = "surrogate.seed and surrogate.out_dir are set by madagents (from the run seed); remove them"
            raise ValueError(msg)
        return value


AnyWorkflow = Workflow | SurrogateWorkflow


def load_workflow(
    path: Path, *, events: int | None = None, seed: int | None = None, chunks: int | None = None
) -> Workflow:
    """Read and validate an event-simulation workflow (see :func:`load_any_workflow` for the other kinds)."""
    workflow = load_any_workflow(path, events=events, seed=seed, chunks=chunks)
    if not isinstance(workflow, Workflow):
        msg = f"{path} is a {workflow.kind} workflow; this needs an event-simulation workflow"
        raise UserInputError(msg)
    return workflow


def load_any_workflow(
    path: Path, *, events: int | None = None, seed: int | None = None, chunks: int | None = None
) -> AnyWorkflow:
    """Read and validate a workflow file; ``events``, ``seed`` and ``chunks`` override the file's values."""
    if not path.is_file():
        shipped = ", ".join(sorted(p.as_posix() for p in Path("workflows").glob("*.yaml"))) or "none found here"
        msg = f"workflow file {path} not found; give the path of a workflow YAML (shipped workflows: {shipped})"
        raise UserInputError(msg)
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        msg = f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); save it as UTF-8"
        raise UserInputError(msg) from None
    return workflow_from_yaml(text, path, events=events, seed=seed, chunks=chunks)


def workflow_from_yaml(
    text: str, path: Path, *, events: int | None = None, seed: int | None = None, chunks: int | None = None
) -> AnyWorkflow:
    """Validate workflow YAML ``text``; ``path`` names it in errors, the options override its values."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        msg = (
            f"{path} is not valid YAML{where}: {problem}; check the indentation and that every 'key: value' "
            "pair has a space after the colon"
        )
        raise UserInputError(msg) from None
    if not isinstance(data, dict):
        msg = f"{path} must be a YAML mapping with keys such as name, beams, process, events, analysis"
        raise UserInputError(msg)
    kind: type[AnyWorkflow] = SurrogateWorkflow if data.get("kind") == "amplitude_surrogate" else Workflow
    if seed is not None:
        data["seed"] = seed
    if events is not None and kind is Workflow:
        data["events"] = events
        if "samples" in data:
            data["samples"] = sized_samples(data["samples"], events)
    if chunks is not None and kind is Workflow:
        data["generator"] = {**(data.get("generator") or {}), "chunks": chunks}
    try:  # the context: a relative checks.reference.file is beside the workflow, as a paper's table is kept
        return kind.model_validate(data, context={"folder": path.parent})
    except ValidationError as exc:
        raise UserInputError(describe_errors(path, exc, kind)) from None
