from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from madagents.agents.planner import plan_workflow
from madagents.agents.seeds import derive_seed
from madagents.reproduce import write_reproduce_script
from madagents.rundir import RunDir
from madagents.sandbox import LocalSandbox
from madagents.state import AssumptionSource, Role
from madagents.workflow import load_workflow
from madagents_tools.analysis import analyze
from madagents_tools.detector import detector
from madagents_tools.generation import merge_samples, mg5_generate, pythia8_generate
from madagents_tools.ml import classifier_test
from tests.conftest import DRELL_YAN, REPO, WorkflowWriter


def test_plan_is_generate_then_analyse_with_derived_seed() -> None:
    plan = plan_workflow(load_workflow(DRELL_YAN, seed=42))
    assert [step.role for step in plan.steps] == [Role.GENERATOR, Role.ANALYST]
    generate = plan.step_request(pythia8_generate.Request)
    assert generate.seed == derive_seed(42, "pythia8") == plan.derived_seeds["pythia8"]
    assert generate.n_events == plan.expectations.n_events == 10000
    assert plan.step_request(analyze.Request).generation_result_path == "steps/01-generate/result.json"


def test_pythia_settings_follow_the_workflow() -> None:
    settings = plan_workflow(load_workflow(DRELL_YAN)).step_request(pythia8_generate.Request).settings
    for line in [
        "Beams:eCM = 13000",
        "WeakSingleBoson:ffbar2gmZ = on",
        "23:onMode = off",
        "23:onIfMatch = 13 -13",
        "PhaseSpace:mHatMin = 60",
        "HadronLevel:all = on",
        "PartonLevel:MPI = on",
    ]:
        assert line in settings


def test_user_settings_come_last_and_are_an_assumption(write_workflow: WorkflowWriter) -> None:
    plan = plan_workflow(load_workflow(write_workflow(generator={"settings": ["Tune:pp = 14"], "mpi": False})))
    settings = plan.step_request(pythia8_generate.Request).settings
    assert settings[-1] == "Tune:pp = 14"
    assert "PartonLevel:MPI = off" in settings
    user = [a for a in plan.assumptions if a.source == AssumptionSource.USER]
    assert [a.choice for a in user] == ["Tune:pp = 14"]


def test_derived_seeds_are_stable_distinct_and_in_pythia_range() -> None:
    seeds = {derive_seed(seed, "pythia8") for seed in range(1, 200)}
    assert len(seeds) == 199
    assert all(1 <= seed <= pythia8_generate.MAX_PYTHIA_SEED for seed in seeds)
    assert derive_seed(7, "pythia8") == derive_seed(7, "pythia8") != derive_seed(7, "detector")


def test_peak_expectation_uses_pdg_mass() -> None:
    (peak,) = plan_workflow(load_workflow(DRELL_YAN)).expectations.peaks
    assert abs(peak.mass_gev - 91.19) < 0.01
    assert abs(peak.width_gev - 2.495) < 0.01


def test_every_default_choice_is_listed() -> None:
    topics = {a.topic: a for a in plan_workflow(load_workflow(DRELL_YAN)).assumptions}
    assert topics["PDF set"].source == AssumptionSource.DEFAULT
    assert topics["Object level"].source == AssumptionSource.CONVENTION
    assert topics["Generator-level mass cut"].source == AssumptionSource.TASK
    assert all(a.reason and a.affects for a in topics.values())


def test_reproduce_script_is_valid_bash_and_embeds_the_requests(tmp_path: Path) -> None:
    plan = plan_workflow(load_workflow(DRELL_YAN))
    rundir = RunDir.create(tmp_path / "run")
    script = write_reproduce_script(rundir, plan, LocalSandbox(rundir.path).tool_host())
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    text = script.read_text()
    assert plan.step_request(pythia8_generate.Request).model_dump_json(indent=2) in text
    assert f"PYTHON={sys.executable}" in text
    assert '-m "${module}"' in text
    assert script.stat().st_mode & 0o111


def test_chunks_get_their_own_seeds_and_a_merge_step_the_analysis_reads() -> None:
    plan = plan_workflow(load_workflow(DRELL_YAN, events=1001, chunks=4, seed=7))
    chunks = plan.steps_of(pythia8_generate.Request)
    assert [request.n_events for _, request in chunks] == [251, 250, 250, 250]
    assert [request.seed for _, request in chunks] == [derive_seed(7, f"pythia8:chunk{i}/4") for i in range(1, 5)]
    assert len({request.root_path for _, request in chunks}) == 4  # no two chunks write the same file
    # side by side they take every core: none is left for a ROOT writer process beside each
    assert [request.spare_core for _, request in chunks] == [False] * 4
    one_sample = plan_workflow(load_workflow(DRELL_YAN, events=1001, seed=7))
    assert one_sample.step_request(pythia8_generate.Request).spare_core
    merge_step, merge = plan.steps_of(merge_samples.Request)[0]
    assert merge_step.needs == [step.id for step, _ in chunks]
    assert plan.steps[-1].needs == [merge_step.id]
    assert plan.step_request(analyze.Request).generation_result_path == f"steps/{merge_step.id}/result.json"
    assert merge.root_path == plan.step_request(analyze.Request).events_path


def test_hepmc3_is_planned_only_for_delphes_or_when_asked(write_workflow: WorkflowWriter) -> None:
    def hepmc_paths(**changes: object) -> list[str | None]:
        plan = plan_workflow(load_workflow(write_workflow(**changes), events=1000, seed=5))
        merges = [request.hepmc_path for _, request in plan.steps_of(merge_samples.Request)]
        return [request.hepmc_path for _, request in plan.steps_of(pythia8_generate.Request)] + merges

    # the analysis reads the ROOT file: no writer process, no ~50 kB per event, in one chunk or several
    assert hepmc_paths() == [None]
    assert hepmc_paths(detector={"card": "atlas"}) == [None]  # the parametric detector reads the ROOT file too
    assert hepmc_paths(generator={"chunks": 2}) == [None, None, None]
    # Delphes reads HepMC3; a user may ask for it
    delphes = plan_workflow(load_workflow(write_workflow(detector={"backend": "delphes", "card": "atlas"}), seed=5))
    assert delphes.step_request(pythia8_generate.Request).hepmc_path == "events/events.hepmc3"
    assert delphes.step_request(detector.Request).hepmc_path == "events/events.hepmc3"
    assert hepmc_paths(generator={"hepmc": True}) == ["events/events.hepmc3"]
    chunked = hepmc_paths(generator={"hepmc": True, "chunks": 2})
    assert chunked == ["events/chunks/c1.hepmc3", "events/chunks/c2.hepmc3", "events/events.hepmc3"]


def test_mg5_generator_plans_mg5_then_the_lhe_shower(write_workflow: WorkflowWriter) -> None:
    generator = {"name": "mg5", "mg5": {"processes": ["p p > mu+ mu-"], "run_card": {"mmll": 60}}}
    plan = plan_workflow(load_workflow(write_workflow(generator=generator), seed=3))
    hard_process, shower = plan.step_request(mg5_generate.Request), plan.step_request(pythia8_generate.Request)
    assert [(step.request.tool, step.needs) for step in plan.steps] == [
        ("mg5_generate", []),
        ("pythia8_generate", [plan.steps[0].id]),
        ("analyze", [plan.steps[1].id]),
    ]
    assert hard_process.seed == derive_seed(3, "mg5") != shower.seed
    assert hard_process.run_card == {"ebeam1": 6500.0, "ebeam2": 6500.0, "mmll": 60}
    assert shower.lhe_path == hard_process.lhe_path
    assert shower.resonances == []  # the decays are MG5's: its param card's tables are checked, not Pythia8's
    # the LHE file brings beams and hard process: none of the Pythia8 process settings remain
    assert not [line for line in shower.settings if line.startswith(("Beams:", "WeakSingleBoson", "PhaseSpace"))]
    notes = {assumption.topic: assumption.choice for assumption in plan.assumptions}
    assert {"Hard process", "Hard-process PDF", "MG5 generation cuts"} <= set(notes)
    assert "decay chain" not in notes["MG5 generation cuts"]  # no decay chain: the cuts act on the muons


def test_the_mg5_leptoquark_uses_the_ufo_with_consistent_couplings_width_and_peak() -> None:
    workflow = load_workflow(REPO / "workflows" / "leptoquark_s1_mg5.yaml")
    pythia_variant = load_workflow(REPO / "workflows" / "leptoquark_s1.yaml")
    assert (workflow.analysis, workflow.checks, workflow.process) == (
        pythia_variant.analysis,
        pythia_variant.checks,
        pythia_variant.process,
    )
    plan = plan_workflow(workflow)
    assert [step.request.tool for step in plan.steps] == ["mg5_generate", "pythia8_generate", "analyze"]
    hard_process = plan.step_request(mg5_generate.Request)
    assert hard_process.model == "composite_LQ_UFO"
    assert hard_process.processes == ["p p > s1b s1b~, s1b > u mu-, s1b~ > u~ mu+"]
    # a Python-2 UFO: MG5 must be told to convert it, before the import
    lines = mg5_generate.generate_commands(hard_process)
    assert lines.index("set auto_convert_model True --no_save") < lines.index("import model composite_LQ_UFO")
    card = hard_process.param_card
    (peak,) = plan.expectations.peaks
    assert card["mass 9000010"] == workflow.process.mass_gev == peak.mass_gev == 1000
    # S₁ → u μ only (the UFO's default S₁ → c τ and c τ N couplings off), λ² = 4π α_em as Pythia8's kCoup = 1
    assert card["lqcouplings1r 2 3"] == card["lqcouplingexos1r 2 3"] == 0
    coupling = card["lqcouplings1r 1 2"]
    assert coupling == pytest.approx(math.sqrt(4 * math.pi / 127.9), rel=1e-3)
    # the width is that of its only channel, Γ = λ² m / 16π (scalar → two massless fermions)
    assert card["decay 9000010"] == pytest.approx(coupling**2 * card["mass 9000010"] / (16 * math.pi), rel=1e-3)
    cuts = next(assumption.choice for assumption in plan.assumptions if assumption.topic == "MG5 generation cuts")
    assert "do not act on the decay products of the decay chain" in cuts


def test_detector_step_sits_between_generation_and_analysis(write_workflow: WorkflowWriter) -> None:
    plan = plan_workflow(load_workflow(write_workflow(detector={"card": "cms"}), seed=3))
    simulate = plan.step_request(detector.Request)
    assert simulate.card is not None
    assert simulate.card.name == "cms"
    assert simulate.seed == derive_seed(3, "detector")
    assert plan.step_request(analyze.Request).events_path == simulate.output_path


def test_the_classifier_compares_generated_events_with_an_independent_sample(write_workflow: WorkflowWriter) -> None:
    plan = plan_workflow(load_workflow(write_workflow(ml_generator={"n_events": 1000}), seed=3))
    sample, reference = (step.request for step in plan.steps if isinstance(step.request, pythia8_generate.Request))
    assert isinstance(sample, pythia8_generate.Request)
    assert isinstance(reference, pythia8_generate.Request)
    assert reference.seed == derive_seed(3, "reference") != sample.seed
    assert reference.settings == sample.settings
    assert reference.n_events == sample.n_events
    test = plan.step_request(classifier_test.Request)
    assert test.reference_path == reference.root_path != sample.root_path
    notes = {assumption.topic: assumption.choice for assumption in plan.assumptions}
    assert notes["Classifier reference sample"].startswith("an independent Pythia8 sample")


def test_behind_a_detector_the_classifier_compares_with_the_training_sample(write_workflow: WorkflowWriter) -> None:
    # an independent sample would need the detector step again: the comparison falls back to the learnt events
    path = write_workflow(ml_generator={"n_events": 1000}, detector={"card": "atlas"})
    plan = plan_workflow(load_workflow(path, seed=3))
    assert "reference" not in plan.derived_seeds
    assert [step.request.tool for step in plan.steps].count("pythia8_generate") == 1
    assert plan.step_request(classifier_test.Request).reference_path == plan.step_request(detector.Request).output_path
    notes = {assumption.topic: assumption.choice for assumption in plan.assumptions}
    assert notes["Classifier reference sample"] == "the sample the flow was trained on"
