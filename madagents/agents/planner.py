"""Planner: turns the request into the typed Plan. With no model attached, a workflow is planned deterministically."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml
from langgraph.runtime import Runtime

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
    PlanStep,
    Role,
    RunState,
)
from madagents.workflow import NEW_PARTICLE, DetectorSpec, PeakCheck, Workflow
from tools import analyze, detector, pythia8_generate

__all__ = ["derive_seed", "detector_request", "plan_workflow", "planner"]

GENERATE_STEP = "01-generate"
DETECTOR_STEP = "02-detector"
SANDBOX_PACKAGES = ["pythia8mc", "pyhepmc", "uproot", "awkward", "numpy", "vector", "hist", "uhi", "mplhep"]
MEV_PER_GEV = 1000.0


def derive_seed(run_seed: int, purpose: str) -> int:
    """A seed for one stochastic step, fixed by the run seed and the step's purpose."""
    digest = hashlib.sha256(f"{run_seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % pythia8_generate.MAX_PYTHIA_SEED + 1


def plan_workflow(workflow: Workflow) -> Plan:
    """The plan of a workflow: generate with Pythia8, optionally simulate the detector, then analyse; no model."""
    seeds = {"pythia8": derive_seed(workflow.seed, "pythia8")}
    uses_jets = "jet" in workflow.analysis.collections()
    generate = pythia8_generate.Request(
        settings=pythia_settings(workflow),
        n_events=workflow.events,
        seed=seeds["pythia8"],
        jets=pythia8_generate.JetDefinition() if uses_jets else None,
        resonances=list(CATALOGUE[workflow.process.name].resonances),
    )
    steps = [PlanStep(id=GENERATE_STEP, role=Role.GENERATOR, description="Pythia8 events", request=generate)]
    events_path = generate.root_path
    if workflow.detector is not None:
        seeds["detector"] = derive_seed(workflow.seed, "detector")
        simulate = detector_request(workflow.detector, seeds["detector"], generate)
        steps.append(
            PlanStep(
                id=DETECTOR_STEP,
                role=Role.GENERATOR,
                description=f"Detector simulation ({workflow.detector.backend}, card {workflow.detector.card})",
                request=simulate,
                needs=[GENERATE_STEP],
            )
        )
        events_path = simulate.output_path
    analysis = analyze.Request(
        events_path=events_path,
        generation_result_path=f"steps/{GENERATE_STEP}/result.json",
        analysis=workflow.analysis,
        process_label=process_label(workflow),
    )
    steps.append(
        PlanStep(
            id=f"{len(steps) + 1:02d}-analyze",
            role=Role.ANALYST,
            description="Selection and histograms",
            request=analysis,
            needs=[steps[-1].id],
        )
    )
    level = "detector level" if workflow.detector else "particle level"
    return Plan(
        workflow=workflow.name,
        summary=f"{workflow.description or workflow.name}. {workflow.events} Pythia8 events, {level}.",
        run_seed=workflow.seed,
        derived_seeds=seeds,
        steps=steps,
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


def detector_request(spec: DetectorSpec, seed: int, generate: pythia8_generate.Request) -> detector.Request:
    if spec.backend == "delphes":
        return detector.Request(backend="delphes", seed=seed, delphes_card=spec.card, hepmc_path=generate.hepmc_path)
    return detector.Request(seed=seed, card=spec.parametric_card(), events_path=generate.root_path)


def pythia_settings(workflow: Workflow) -> list[str]:
    beam_a, beam_b = (_BEAM_IDS[name] for name in workflow.beams.particles)
    gen = workflow.generator
    lines = [f"Beams:idA = {beam_a}", f"Beams:idB = {beam_b}", f"Beams:eCM = {workflow.beams.sqrt_s_gev:g}"]
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
    return f"Pythia8 ${reaction}$, √s = {workflow.beams.sqrt_s_gev / 1000:g} TeV"


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
        *_process_notes(workflow),
        Assumption(
            topic="Random seed",
            choice=f"run seed {workflow.seed}; Pythia8 Random:seed {derive_seed(workflow.seed, 'pythia8')}",
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
