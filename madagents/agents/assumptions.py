"""What a plan assumes where the workflow is silent: every choice a physicist would want listed, with its source."""

from __future__ import annotations

from madagents.agents.seeds import run_seeds, sample_seed
from madagents.processes import ProcessNote
from madagents.state import Assumption, AssumptionSource
from madagents.workflow import Mg5Process, Workflow
from madagents_tools.detector import detector

__all__ = ["SURROGATE_ASSUMPTIONS", "assumptions"]


SURROGATE_ASSUMPTIONS = [
    Assumption(
        topic="Amplitude code",
        choice="ufoamp tree-level helicity amplitudes from the Standard Model UFO (ufo-sm), summed over helicities "
        "and colours, averaged over initial states",
        source=AssumptionSource.CONVENTION,
        reason="a real amplitude code from PyPI; the surrogate is only as right as its training amplitudes",
        affects=["all metrics"],
    ),
    Assumption(
        topic="Phase space",
        choice="RAMBO points at fixed or uniformly sampled √ŝ, massless pairs with 2pᵢ·pⱼ ≥ y_min ŝ",
        source=AssumptionSource.CONVENTION,
        reason="keeps the soft and collinear poles, where |M|² diverges, out of the regression",
        affects=["all metrics"],
    ),
    Assumption(
        topic="Uncertainty model",
        choice="heteroscedastic Gaussian (β-NLL) on standardised log |M|²: the network predicts a mean and a width",
        source=AssumptionSource.CONVENTION,
        reason="gives a per-point uncertainty whose calibration the pull distribution checks",
        affects=["pulls", "coverage"],
    ),
]


FIXED_ASSUMPTIONS = (
    Assumption(
        topic="Tune",
        choice="Monash 2013 (Pythia8 default)",
        source=AssumptionSource.DEFAULT,
        reason="the workflow names no tune",
        affects=["underlying event", "hadronisation", "isolation"],
    ),
    Assumption(
        topic="Perturbative order",
        choice="LO matrix element with parton shower; σ is the LO cross section",
        source=AssumptionSource.CONVENTION,
        reason="Pythia8's built-in hard processes are LO; K-factors are not applied",
        affects=["cross section normalisation"],
    ),
    Assumption(
        topic="Lepton definition",
        choice="bare final-state leptons; FSR photons are not added back",
        source=AssumptionSource.CONVENTION,
        reason="the workflow gives only kinematic cuts; bare leptons shift lepton-pair masses slightly low",
        affects=["lepton pT", "lepton-pair mass"],
    ),
)
"""Choices every Pythia8 workflow of the offline stack makes."""

PARTICLE_LEVEL = Assumption(
    topic="Object level",
    choice="particle level: objects are stable generator particles, no detector simulation",
    source=AssumptionSource.CONVENTION,
    reason="the workflow has no detector step",
    affects=["all histograms"],
)

JET_ASSUMPTION = Assumption(
    topic="Jet definition",
    choice="anti-kT R = 0.4 from visible final-state particles, isolated leptons excluded, pT > 20 GeV",
    source=AssumptionSource.CONVENTION,
    reason="the LHC experiments' standard jet definition",
    affects=["jets", "b-tagging"],
)


def assumptions(workflow: Workflow) -> list[Assumption]:
    """The choices behind the plan that a physicist would want listed."""
    gen, seeds = workflow.generator, run_seeds(workflow)
    entries = [
        Assumption(
            topic="PDF set",
            choice=gen.pdf or "NNPDF2.3 QCD+QED LO (Pythia8 default)",
            source=AssumptionSource.TASK if gen.pdf else AssumptionSource.DEFAULT,
            reason="given by the workflow" if gen.pdf else "no PDF named; Pythia8's built-in set needs no LHAPDF",
            affects=["cross section", "all distributions"],
        ),
        *FIXED_ASSUMPTIONS,
        *_detector_notes(workflow),
        *(_mg5_notes(workflow.generator.mg5) if workflow.generator.mg5 else _process_notes(workflow)),
        Assumption(
            topic="Random seed",
            choice=f"run seed {workflow.seed}; " + "; ".join(f"{purpose}: {seed}" for purpose, seed in seeds.items()),
            source=AssumptionSource.TASK,
            reason="every stochastic step gets a seed derived from the one run seed (SHA-256 of seed and purpose)",
            affects=["all events"],
        ),
    ]
    if "jet" in workflow.analysis.collections():
        entries.append(JET_ASSUMPTION)
    if gen.settings:
        entries.append(
            Assumption(
                topic="Extra generator settings",
                choice="; ".join(gen.settings),
                source=AssumptionSource.USER,
                reason="given in the workflow's generator.settings and applied last, overriding the plan",
                affects=["all events"],
            )
        )
    if workflow.ml_generator is not None:
        entries.append(_classifier_reference(seeds))
    return entries + _sample_notes(workflow)


def _sample_notes(workflow: Workflow) -> list[Assumption]:
    """With several samples: what each is, its seeds, and the process choices of each further sample."""
    if not workflow.samples:
        return []
    described, notes = [], []
    for sample in workflow.samples:
        if sample.process is None:
            described.append(f"{sample.name} ({sample.role}): the workflow's process, {workflow.events} events")
            continue
        own = workflow.sample_workflow(sample, sample_seed(workflow.seed, sample.name))
        seeds = ", ".join(f"{purpose} {seed}" for purpose, seed in run_seeds(own).items())
        described.append(f"{sample.name} ({sample.role}): {own.events} events, seeds {seeds}")
        process_notes = _mg5_notes(sample.mg5) if sample.mg5 else _process_notes(own)
        notes += [note.model_copy(update={"topic": f"{note.topic} ({sample.name})"}) for note in process_notes]
    style = workflow.analysis.plots.style or "stack"
    summary = Assumption(
        topic="Samples",
        choice="; ".join(described),
        source=AssumptionSource.TASK,
        reason=f"the workflow's samples, drawn together ({style}); each is generated with seeds derived from the run "
        "seed and its name, analysed alike and scaled by its own LO σ (no K-factors)",
        affects=["the samples' plots", "stacked backgrounds"],
    )
    return [summary, *notes]


def _classifier_reference(seeds: dict[str, int]) -> Assumption:
    if "reference" in seeds:  # seeds.run_seeds decides whether an independent sample can be made
        choice = "an independent Pythia8 sample: the sample's settings and size, its own seed"
        reason = "events the flow never saw; the training sample itself would flatter a generator that memorised it"
    else:
        choice = "the sample the flow was trained on"
        reason = "an independent sample would need the MG5 or detector step again; the test may flatter the flow"
    return Assumption(
        topic="Classifier reference sample",
        choice=choice,
        source=AssumptionSource.CONVENTION,
        reason=reason,
        affects=["classifier verdict"],
    )


def _detector_notes(workflow: Workflow) -> list[Assumption]:
    spec = workflow.detector
    if spec is None:
        return [PARTICLE_LEVEL]
    if spec.backend == "delphes":
        return [
            Assumption(
                topic="Object level",
                choice=f"detector level: Delphes with card {spec.card}, RandomSeed from the run seed",
                source=AssumptionSource.TASK,
                reason="the workflow asks for Delphes",
                affects=["all histograms", "fiducial cross section"],
            )
        ]
    uses_jets = "jet" in workflow.analysis.collections()
    notes = []
    for line in detector.detector_assumptions(spec.parametric_card(), uses_jets):
        topic, _, choice = line.partition(": ")
        notes.append(
            Assumption(
                topic=topic,
                choice=choice,
                source=AssumptionSource.CONVENTION,
                reason="madagents' parametric detector stands in for Delphes where Delphes is not installed",
                affects=["all histograms", "fiducial cross section"],
            )
        )
    return notes


def _mg5_notes(mg5: Mg5Process) -> list[Assumption]:
    pdf = mg5.run_card.get("pdlabel")
    return [
        Assumption(
            topic="Hard process",
            choice=f"MadGraph5_aMC@NLO, model {mg5.model}: " + "; ".join(mg5.processes),
            source=AssumptionSource.TASK,
            reason="the workflow names the MG5 process; Pythia8 showers its LHE events (Beams:frameType = 4)",
            affects=["cross section", "all distributions"],
        ),
        Assumption(
            topic="Hard-process PDF",
            choice=str(pdf) if pdf else "nn23lo1 (MG5's built-in set, no LHAPDF)",
            source=AssumptionSource.TASK if pdf else AssumptionSource.DEFAULT,
            reason="given in run_card" if pdf else "no pdlabel in the run card; with LHAPDF set pdlabel and lhaid",
            affects=["cross section"],
        ),
        Assumption(
            topic="MG5 generation cuts",
            choice="the default LO run card (e.g. ptl > 10 GeV, |η_l| < 2.5, ΔR_ll > 0.4) plus "
            + (", ".join(f"{key} = {value}" for key, value in mg5.run_card.items()) or "nothing else")
            + _decay_chain_cuts(mg5),
            source=AssumptionSource.DEFAULT,
            reason="σ is the cross section inside these cuts; the analysis cuts must be tighter to be unbiased",
            affects=["cross section", "fiducial cross section"],
        ),
    ]


def _decay_chain_cuts(mg5: Mg5Process) -> str:
    if "cut_decays" in mg5.run_card or not any("," in process for process in mg5.processes):
        return ""
    return (
        "; these cuts do not act on the decay products of the decay chain (cut_decays = F), so σ is the full "
        "σ × BR of the chain, within MG5's Breit–Wigner window (bwcutoff)"
    )


def _process_notes(workflow: Workflow) -> list[Assumption]:
    """The catalogue entry's own choices (open decay channels, what σ includes) and its parameters' defaults."""
    process = workflow.process
    recipe = process.recipe()
    if recipe is None:
        switches = "; ".join(process.pythia8.settings()) if process.pythia8 is not None else ""
        return [
            Assumption(
                topic="Hard process",
                choice=f"Pythia8 switches and particle data given by the workflow: {switches}",
                source=AssumptionSource.TASK,
                reason="the process is outside the catalogue; labels name the switches, not a catalogue entry",
                affects=["cross section", "all distributions"],
            )
        ]
    choice = process.choice()
    notes = [_note(note) for note in (*recipe.notes, *choice.final_state.notes)]
    for name, parameter in recipe.parameters.items():
        value = getattr(process, name)
        if value is not None:
            setting = "; ".join(line.partition("=")[0].strip() for line in parameter.settings)
            notes.append(
                Assumption(
                    topic="Generator-level mass cut" if name == "mass_min_gev" else f"Process parameter {name}",
                    choice=f"{parameter.description}: {value:g} GeV ({setting})",
                    source=AssumptionSource.TASK,
                    reason="given by the workflow; a generator-level cut acts on the hard process, before the shower",
                    affects=["cross section"],
                )
            )
        elif parameter.default is not None:
            notes.append(
                Assumption(
                    topic=f"Process parameter {name}",
                    choice=f"{name} = {parameter.default:g} ({parameter.description})",
                    source=AssumptionSource.DEFAULT,
                    reason=parameter.reason,
                    affects=["cross section"],
                )
            )
    return notes


def _note(note: ProcessNote) -> Assumption:
    return Assumption(
        topic=note.topic,
        choice=note.choice,
        source=AssumptionSource(note.source),
        reason=note.reason,
        affects=list(note.affects),
    )
