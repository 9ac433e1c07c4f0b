"""Planner: turns the request into the typed Plan. With no model attached, a workflow is planned deterministically."""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from langgraph.runtime import Runtime

from madagents.agents.assumptions import SURROGATE_ASSUMPTIONS, assumptions
from madagents.agents.chain import (
    Chain,
    add_analysis,
    add_detector,
    add_generation,
    add_mg5_generation,
    add_ml_generator,
    add_sample_plots,
)
from madagents.agents.process_plan import peak_expectation, process_label, process_settings
from madagents.agents.replan import discard_outputs, replan_assumption
from madagents.agents.seeds import derive_seed, run_seeds, sample_seed
from madagents.agents.steps import require_plan
from madagents.agents.task_planner import choose_workflow
from madagents.context import RunContext
from madagents.reanalysis_spec import AnyRun, Reanalysis
from madagents.reference import ReferenceExpectation
from madagents.source_run import SOURCE_DIR, stage_source
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
from madagents.workflow import SurrogateWorkflow, Workflow
from madagents_tools.analysis import analyze
from madagents_tools.contract import ToolRequest
from madagents_tools.generation import pythia8_generate
from madagents_tools.io import source_events

__all__ = ["plan_reanalysis", "plan_surrogate", "plan_workflow", "planner", "process_label", "pythia_settings"]

HEPMC_PATH = "events/events.hepmc3"
RequestT = TypeVar("RequestT", bound=ToolRequest)
SANDBOX_PACKAGES = ["pythia8mc", "pyhepmc", "uproot", "awkward", "numpy", "vector", "hist", "uhi", "mplhep"]


def plan_workflow(workflow: AnyRun) -> Plan:
    """The plan of a workflow: generate with Pythia8, optionally simulate the detector, then analyse; no model.

    A workflow with samples plans each further sample the same way, with its own seeds derived from the run seed,
    and a last step that draws the samples together.
    """
    if isinstance(workflow, SurrogateWorkflow):
        return plan_surrogate(workflow)
    if isinstance(workflow, Reanalysis):
        return plan_reanalysis(workflow)
    own = workflow.model_copy(update={"samples": [], "analysis": workflow.single_sample_analysis()})
    chain, seeds = Chain(), run_seeds(workflow)
    uses_jets = "jet" in workflow.analysis.collections()
    _plan_sample(chain, own, seeds)
    own_analyses = [step.id for step, _ in _steps(chain, analyze.Request)]
    if workflow.samples:
        seeds = add_samples(chain, workflow, seeds)
    level = "detector level" if workflow.detector else "particle level"
    chunks = f" in {workflow.generator.chunks} chunks" if workflow.generator.chunks > 1 else ""
    events = f"{workflow.events} Pythia8 events{chunks}"
    if workflow.samples:
        events = f"{len(workflow.samples)} samples ({', '.join(_sample_events(workflow))}){chunks}"
    settings = pythia_settings(workflow)
    peaks = [peak_expectation(check, workflow, settings) for check in workflow.checks.peaks]
    edges = [peak_expectation(check, workflow, settings) for check in workflow.checks.edges]
    return Plan(
        workflow=workflow.name,
        summary=f"{workflow.description or workflow.name}. {events}, {level}.",
        run_seed=workflow.seed,
        derived_seeds=seeds,
        steps=chain.steps,
        expectations=Expectations(
            n_events=workflow.events,
            # with samples, the checks are the workflow's own process's: its analysis only
            peaks=_own(peaks, own_analyses) if workflow.samples else peaks,
            edges=_own(edges, own_analyses) if workflow.samples else edges,
            # Pythia8 scales σ by the branching ratios of the decay channels left open (every catalogue final
            # state closes the others), and MG5 decay chains include them: σ already includes them.
            channel_branching_fraction=1.0,
            reference=_reference(workflow),
        ),
        assumptions=assumptions(workflow),
        required_packages=[*SANDBOX_PACKAGES, *(["fastjet"] if uses_jets else [])],
    )


def _plan_sample(chain: Chain, workflow: Workflow, seeds: dict[str, int]) -> None:
    """Generation (Pythia8 or MG5 + Pythia8), the detector if any, the analysis and the ML steps of one sample."""
    pythia_seeds = [seed for purpose, seed in seeds.items() if purpose.startswith("pythia8")]
    uses_jets = "jet" in workflow.analysis.collections()
    settings = pythia_settings(workflow)
    generate = pythia8_generate.Request(
        settings=settings,
        n_events=workflow.events,
        seed=pythia_seeds[0],
        jets=workflow.analysis.jets if uses_jets else None,
        resonances=workflow.process.resonances(),
        hepmc_path=chain.path(HEPMC_PATH) if _needs_hepmc(workflow) else None,
        root_path=chain.path("events/events.root"),
    )
    mg5 = workflow.generator.mg5
    if mg5 is not None:
        half = workflow.beams.sqrt_s_gev / 2
        hard_process = mg5.request(seed=seeds["mg5"], n_events=workflow.events, beam_energies_gev=(half, half))
        paths = ("output_dir", "commands_dir", "lhe_path")
        hard_process = hard_process.model_copy(update={key: chain.path(getattr(hard_process, key)) for key in paths})
        add_mg5_generation(chain, hard_process, generate)
    else:
        add_generation(chain, generate, pythia_seeds)
    if workflow.detector is not None:
        add_detector(chain, workflow.detector, seeds["detector"], generate)
    add_analysis(chain, workflow, process_label(workflow))
    if workflow.ml_generator is not None:
        add_ml_generator(chain, workflow.ml_generator, seeds, workflow, process_label(workflow), generate)


def add_samples(chain: Chain, workflow: Workflow, seeds: dict[str, int]) -> dict[str, int]:
    """Each further sample's steps (seeds derived from the run seed and its name), then the plot of them all.

    Returns the run's seeds with each sample's, keyed ``<sample>:<purpose>``.
    """
    analyses = {workflow.own_sample().name: _steps(chain, analyze.Request)[0]}
    labels = {workflow.own_sample().name: process_label(workflow, with_energy=False)}
    for sample in workflow.other_samples():
        sample_workflow = workflow.sample_workflow(sample, sample_seed(workflow.seed, sample.name))
        sample_seeds = run_seeds(sample_workflow)
        seeds = {**seeds, **{f"{sample.name}:{purpose}": seed for purpose, seed in sample_seeds.items()}}
        sample_chain = Chain(sample=sample.name)
        _plan_sample(sample_chain, sample_workflow, sample_seeds)
        chain.steps += sample_chain.steps
        analyses[sample.name] = _steps(sample_chain, analyze.Request)[0]
        labels[sample.name] = process_label(sample_workflow, with_energy=False)
    add_sample_plots(chain, workflow, analyses, labels)
    return seeds


def _own(checks: list[PeakExpectation], analyses: list[str]) -> list[PeakExpectation]:
    """Checks of the workflow's own process, made on its own analysis steps only (not on the other samples)."""
    return [check.model_copy(update={"steps": analyses}) for check in checks]


def _steps(chain: Chain, kind: type[RequestT]) -> list[tuple[PlanStep, RequestT]]:
    return [(step, step.request) for step in chain.steps if isinstance(step.request, kind)]


def _sample_events(workflow: Workflow) -> list[str]:
    return [f"{sample.name} {sample.events or workflow.events}" for sample in workflow.samples]


def _needs_hepmc(workflow: Workflow) -> bool:
    """HepMC3 text costs a writer process and ~50 kB per event: only Delphes reads it, or a user who asks for it."""
    return workflow.generator.hepmc or (workflow.detector is not None and workflow.detector.backend == "delphes")


def _reference(workflow: Workflow) -> ReferenceExpectation | None:
    check = workflow.checks.reference
    if check is None:
        return None
    from madagents.compare.reference_gate import reference_expectation  # noqa: PLC0415 - scipy, 0.5 s to import

    return reference_expectation(check, workflow.analysis.histograms)


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


def plan_reanalysis(reanalysis: Reanalysis) -> Plan:
    """Check the source run's events (step 01-source), then run the workflow's analysis on them; no generation."""
    workflow, source = reanalysis.workflow, reanalysis.source
    check = source_events.Request(
        source_run=source.path,
        source_run_id=source.run_id,
        events_path=f"{SOURCE_DIR}/{source.events_path}",
        events_sha256=source.events_sha256,
        generation_result_path=f"{SOURCE_DIR}/{source.generation_result_path}",
        generation_sha256=source.generation_sha256,
    )
    chain = Chain()
    description = f"The events of run {source.run_id}, checked against its provenance"
    step_id = chain.add("source", Role.GENERATOR, description, check, [])
    chain.produced(step_id, check.events_path)
    add_analysis(chain, workflow, process_label(workflow))
    reused = Assumption(
        topic="Events",
        choice=f"the {source.n_events} events of run {source.run_id} ({source.path}/{source.events_path})",
        source=AssumptionSource.TASK,
        reason="a reanalysis reads the events a finished run produced (sha256 checked); none are generated, so "
        f"the workflow's events and seed are not used{_not_reanalysed(source.other_samples)}",
        affects=["all histograms", "cross section"],
    )
    settings = pythia_settings(workflow)
    return Plan(
        workflow=reanalysis.name,
        summary=f"Reanalysis of the {source.n_events} events of run {source.run_id}: "
        f"{workflow.description or workflow.name}.",
        run_seed=workflow.seed,
        derived_seeds={},
        steps=chain.steps,
        expectations=Expectations(
            n_events=source.n_events,
            peaks=[peak_expectation(peak, workflow, settings) for peak in workflow.checks.peaks],
            edges=[peak_expectation(edge, workflow, settings) for edge in workflow.checks.edges],
        ),
        assumptions=[reused],
        required_packages=[*SANDBOX_PACKAGES],
    )


def _not_reanalysed(samples: list[str]) -> str:
    return f"; the run's further samples ({', '.join(samples)}) are not reanalysed" if samples else ""


def pythia_settings(workflow: Workflow) -> list[str]:
    beam_a, beam_b = (_BEAM_IDS[name] for name in workflow.beams.particles)
    gen = workflow.generator
    lines = []
    if gen.mg5 is None:  # an LHE file brings its own beams and hard process
        lines += [f"Beams:idA = {beam_a}", f"Beams:idB = {beam_b}", f"Beams:eCM = {workflow.beams.sqrt_s_gev:g}"]
        lines += process_settings(workflow.process)
    lines += [
        f"PartonLevel:ISR = {_on(gen.shower)}",
        f"PartonLevel:FSR = {_on(gen.shower)}",
        f"PartonLevel:MPI = {_on(gen.mpi)}",
        f"HadronLevel:all = {_on(gen.hadronisation)}",
    ]
    if gen.pdf is not None:
        lines.append(f"PDF:pSet = {gen.pdf}")
    return lines + gen.settings


_BEAM_IDS = {"p": 2212, "pbar": -2212}


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def planner(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Plan the run (again, when the reviewer sent the plan back) and write plan.json and assumptions.yaml.

    The installer writes reproduce.sh.
    """
    rundir = runtime.context.rundir
    update: dict[str, Any] = {}
    workflow = state.workflow
    back = state.send_back if state.send_back is not None and state.send_back.role == Role.PLANNER else None
    if state.task is not None and (workflow is None or back is not None):
        chosen = choose_workflow(runtime.context, state, state.task)
        if chosen.workflow is None:
            return {"error": chosen.error, "spend": chosen.spend}
        update = {
            "workflow": chosen.workflow,
            "assumptions": chosen.assumptions,
            "not_done": chosen.not_done,
            "spend": chosen.spend,
        }
        if back is not None and isinstance(workflow, Workflow):
            update["assumptions"] = [
                *chosen.assumptions,
                replan_assumption(len(state.reviews), back, workflow, chosen.workflow),
            ]
            discard_outputs(rundir, require_plan(state))
        workflow = chosen.workflow
        # the model's plan, re-runnable without any model: madagents run RUN_DIR/workflow.yaml
        rundir.write_text("workflow.yaml", yaml.safe_dump(workflow.model_dump(mode="json"), sort_keys=False))
    if workflow is None:
        msg = "a run needs a workflow or a task; the runner gives one of them"
        raise RuntimeError(msg)
    if isinstance(workflow, Reanalysis):
        stage_source(rundir, workflow.source)
    plan = plan_workflow(workflow)
    rundir.write_model("plan.json", plan)
    rundir.write_assumptions([*plan.assumptions, *state.assumptions, *update.get("assumptions", [])])
    return {**update, "plan": plan}
