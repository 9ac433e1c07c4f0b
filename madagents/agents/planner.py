"""Planner: turns the request into the typed Plan. With no model attached, a workflow is planned deterministically."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml
from langgraph.runtime import Runtime

from madagents.agents.chain import (
    Chain,
    add_analysis,
    add_detector,
    add_generation,
    add_mg5_generation,
    add_ml_generator,
)
from madagents.agents.task_planner import choose_workflow
from madagents.context import RunContext
from madagents.processes import CATALOGUE
from madagents.reproduce import write_reproduce_script
from madagents.state import (
    Assumption,
    AssumptionSource,
    Expectations,
    PeakExpectation,
    Plan,
    Role,
    RunState,
)
from madagents.workflow import NEW_PARTICLE, AnyWorkflow, Mg5Process, PeakCheck, SurrogateWorkflow, Workflow
from tools import detector, pythia8_generate

__all__ = ["derive_seed", "plan_surrogate", "plan_workflow", "planner"]

SANDBOX_PACKAGES = ["pythia8mc", "pyhepmc", "uproot", "awkward", "numpy", "vector", "hist", "uhi", "mplhep"]
MEV_PER_GEV = 1000.0


def derive_seed(run_seed: int, purpose: str) -> int:
    """A seed for one stochastic step, fixed by the run seed and the step's purpose."""
    digest = hashlib.sha256(f"{run_seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % pythia8_generate.MAX_PYTHIA_SEED + 1


def plan_workflow(workflow: AnyWorkflow) -> Plan:
    """The plan of a workflow: generate with Pythia8, optionally simulate the detector, then analyse; no model."""
    if isinstance(workflow, SurrogateWorkflow):
        return plan_surrogate(workflow)
    seeds = _seeds(workflow)
    pythia_seeds = [seed for purpose, seed in seeds.items() if purpose.startswith("pythia8")]
    uses_jets = "jet" in workflow.analysis.collections()
    generate = pythia8_generate.Request(
        settings=pythia_settings(workflow),
        n_events=workflow.events,
        seed=pythia_seeds[0],
        jets=pythia8_generate.JetDefinition() if uses_jets else None,
        resonances=list(CATALOGUE[workflow.process.name].resonances),
    )
    chain = Chain()
    mg5 = workflow.generator.mg5
    if mg5 is not None:
        half = workflow.beams.sqrt_s_gev / 2
        hard_process = mg5.request(seed=seeds["mg5"], n_events=workflow.events, beam_energies_gev=(half, half))
        add_mg5_generation(chain, hard_process, generate)
    else:
        add_generation(chain, generate, pythia_seeds)
    if workflow.detector is not None:
        add_detector(chain, workflow.detector, seeds["detector"], generate)
    add_analysis(chain, workflow, process_label(workflow))
    if workflow.ml_generator is not None:
        add_ml_generator(chain, workflow.ml_generator, seeds, workflow, process_label(workflow))
    level = "detector level" if workflow.detector else "particle level"
    chunks = f" in {workflow.generator.chunks} chunks" if workflow.generator.chunks > 1 else ""
    return Plan(
        workflow=workflow.name,
        summary=f"{workflow.description or workflow.name}. {workflow.events} Pythia8 events{chunks}, {level}.",
        run_seed=workflow.seed,
        derived_seeds=seeds,
        steps=chain.steps,
        expectations=Expectations(
            n_events=workflow.events,
            peaks=[_peak(check, workflow) for check in workflow.checks.peaks],
            # Every catalogue recipe opens only the requested decay channels (Z → ℓℓ; W⁺ → ℓν and W⁻ → ℓ'ν̄ for
            # tt̄), and Pythia8 scales σ by their branching ratios: σ already includes them.
            channel_branching_fraction=1.0,
        ),
        assumptions=assumptions(workflow),
        required_packages=[*SANDBOX_PACKAGES, *(["fastjet"] if uses_jets else [])],
    )


def plan_surrogate(workflow: SurrogateWorkflow) -> Plan:
    """One step: amplitudes from ufoamp, a heteroscedastic network trained on them, its accuracy on held-out points."""
    seed = derive_seed(workflow.seed, "surrogate")
    train = workflow.surrogate.model_copy(update={"seed": seed})
    chain = Chain()
    chain.add("surrogate", Role.GENERATOR, f"Neural surrogate of |M|² for {train.process}", train, [])
    return Plan(
        workflow=workflow.name,
        summary=f"{workflow.description or workflow.name}. {train.n_points} phase-space points of {train.process}.",
        run_seed=workflow.seed,
        derived_seeds={"surrogate": seed},
        steps=chain.steps,
        expectations=Expectations(
            n_events=0, surrogate_fraction_within_1pct_min=workflow.checks.fraction_within_1pct_min
        ),
        assumptions=SURROGATE_ASSUMPTIONS,
        required_packages=["torch", "ufoamp", "ufo-sm", "numpy", "hist", "mplhep"],
    )


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


def _seeds(workflow: Workflow) -> dict[str, int]:
    """Seed of every stochastic step: Pythia8 (one per chunk) and the detector, all from the run seed."""
    chunks = workflow.generator.chunks
    purposes = ["pythia8"] if chunks == 1 else [f"pythia8:chunk{index}/{chunks}" for index in range(1, chunks + 1)]
    if workflow.generator.mg5 is not None:
        purposes.insert(0, "mg5")
    if workflow.detector is not None:
        purposes.append("detector")
    if workflow.ml_generator is not None:
        purposes += ["cfm", "classifier"]
    return {purpose: derive_seed(workflow.seed, purpose) for purpose in purposes}


def pythia_settings(workflow: Workflow) -> list[str]:
    beam_a, beam_b = (_BEAM_IDS[name] for name in workflow.beams.particles)
    gen = workflow.generator
    lines = []
    if gen.mg5 is None:  # an LHE file brings its own beams and hard process
        lines += [f"Beams:idA = {beam_a}", f"Beams:idB = {beam_b}", f"Beams:eCM = {workflow.beams.sqrt_s_gev:g}"]
        lines += CATALOGUE[workflow.process.name].settings(workflow.process.choice())
    lines += [
        f"PartonLevel:ISR = {_on(gen.shower)}",
        f"PartonLevel:FSR = {_on(gen.shower)}",
        f"PartonLevel:MPI = {_on(gen.mpi)}",
        f"HadronLevel:all = {_on(gen.hadronisation)}",
    ]
    if gen.pdf is not None:
        lines.append(f"PDF:pSet = {gen.pdf}")
    return lines + gen.settings


def process_label(workflow: Workflow) -> str:
    from particle import Particle  # noqa: PLC0415 - the PDG table loads slowly

    products = "".join(Particle.from_pdgid(pdg).latex_name for pdg in sorted(workflow.process.pdg_ids()))
    reaction = CATALOGUE[workflow.process.name].latex.format(products=products)
    generator = "MG5 + Pythia8" if workflow.generator.mg5 is not None else "Pythia8"
    return f"{generator} ${reaction}$, √s = {workflow.beams.sqrt_s_gev / 1000:g} TeV"


_BEAM_IDS = {"p": 2212, "pbar": -2212}


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _peak(check: PeakCheck, workflow: Workflow) -> PeakExpectation:
    from particle import Particle  # noqa: PLC0415 - the PDG table loads slowly

    if check.particle == NEW_PARTICLE and workflow.process.mass_gev is not None:
        recipe = CATALOGUE[workflow.process.name]
        # the generator computes the new particle's width; the peak gate compares positions only
        return PeakExpectation(
            histogram=check.histogram,
            particle=recipe.new_particle or check.particle,
            mass_gev=workflow.process.mass_gev,
            width_gev=0.0,
        )
    particle = Particle.from_name(check.particle)
    return PeakExpectation(
        histogram=check.histogram,
        particle=check.particle,
        mass_gev=float(particle.mass or 0.0) / MEV_PER_GEV,
        width_gev=float(particle.width or 0.0) / MEV_PER_GEV,
    )


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
    gen, process = workflow.generator, workflow.process
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
            choice=f"run seed {workflow.seed}; "
            + "; ".join(f"{purpose}: {seed}" for purpose, seed in _seeds(workflow).items()),
            source=AssumptionSource.TASK,
            reason="every stochastic step gets a seed derived from the one run seed (SHA-256 of seed and purpose)",
            affects=["all events"],
        ),
    ]
    if process.mass_min_gev is not None:
        entries.append(
            Assumption(
                topic="Generator-level mass cut",
                choice=f"m̂ > {process.mass_min_gev:g} GeV (PhaseSpace:mHatMin)",
                source=AssumptionSource.TASK,
                reason="the task's m_ll cut is applied to the hard process, before shower and cuts",
                affects=["cross section", "low-mass tail"],
            )
        )
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
    return entries


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
            + (", ".join(f"{key} = {value}" for key, value in mg5.run_card.items()) or "nothing else"),
            source=AssumptionSource.DEFAULT,
            reason="σ is the cross section inside these cuts; the analysis cuts must be tighter to be unbiased",
            affects=["cross section", "fiducial cross section"],
        ),
    ]


def _process_notes(workflow: Workflow) -> list[Assumption]:
    """The catalogue recipe's own choices, e.g. which decay channels are open and what σ includes."""
    process = workflow.process
    return [
        Assumption(
            topic=note.topic,
            choice=note.choice,
            source=AssumptionSource(note.source),
            reason=note.reason,
            affects=list(note.affects),
        )
        for note in CATALOGUE[process.name].notes(process.choice())
    ]


def planner(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Plan the run and write plan.json, assumptions.yaml and reproduce.sh."""
    rundir = runtime.context.rundir
    update: dict[str, Any] = {}
    workflow = state.workflow
    if workflow is None and state.task is not None:
        chosen = choose_workflow(runtime.context, state, state.task)
        if chosen.workflow is None:
            return {"error": chosen.error, "spend": chosen.spend}
        workflow = chosen.workflow
        update = {"workflow": workflow, "assumptions": chosen.assumptions, "spend": chosen.spend}
        # the model's plan, re-runnable without any model: madagents run RUN_DIR/workflow.yaml
        rundir.write_text("workflow.yaml", yaml.safe_dump(workflow.model_dump(mode="json"), sort_keys=False))
    if workflow is None:
        msg = "a run needs a workflow or a task; the runner gives one of them"
        raise RuntimeError(msg)
    plan = plan_workflow(workflow)
    rundir.write_model("plan.json", plan)
    rundir.write_assumptions([*plan.assumptions, *update.get("assumptions", [])])
    write_reproduce_script(rundir, plan)
    return {**update, "plan": plan}
