"""The write-up of a finished run: report.md for people, provenance.json for machines."""

from __future__ import annotations

from importlib import metadata

from madagents.context import RunContext
from madagents.llm.budget import Spend
from madagents.reproduce import render_template
from madagents.rundir import Provenance
from madagents.state import Plan, Review, RunState, Verdict, typed_results
from tools import analyze, detector, pythia8_generate
from tools.contract import ToolResult

__all__ = ["write_provenance", "write_report"]


def write_report(
    ctx: RunContext, state: RunState, plan: Plan, verdict: Verdict, reviews: list[Review], spend: Spend
) -> None:
    text = render_template(
        "report.md.j2",
        run_id=ctx.rundir.run_id,
        plan=plan,
        task=state.task,
        pythia_steps=plan.steps_of(pythia8_generate.Request),
        generations=[
            (step, result) for step, result in typed_results(plan, state.results, ToolResult) if _is_sample(result)
        ],
        analyses=typed_results(plan, state.results, analyze.Result),
        verdict=verdict,
        assumptions=[*plan.assumptions, *state.assumptions],
        reviews=reviews,
        spend=spend,
    )
    ctx.rundir.write_text("report.md", text)


def write_provenance(ctx: RunContext, state: RunState, plan: Plan) -> None:
    """Versions, settings, seeds, command line and the hash of every artifact (written last)."""
    packages: dict[str, str] = {"madagents": metadata.version("madagents")}
    for result in [state.environment, *state.results.values()]:
        if result is not None:
            packages.update(result.versions)
    provenance = Provenance(
        run_id=ctx.rundir.run_id,
        madagents_version=packages["madagents"],
        command_line=ctx.command_line,
        sandbox=state.sandbox or ctx.sandbox.name,
        packages=dict(sorted(packages.items())),
        generator_settings={step.id: request.settings for step, request in plan.steps_of(pythia8_generate.Request)},
        detector=_detector(plan),
        run_seed=plan.run_seed,
        derived_seeds=plan.derived_seeds,
        artifacts=ctx.rundir.artifacts(),
    )
    ctx.rundir.write_model("provenance.json", provenance)


def _is_sample(result: ToolResult) -> bool:
    """Results that produced events (and carry their count), as opposed to analyses."""
    return not isinstance(result, analyze.Result) and hasattr(result, "n_events")


def _detector(plan: Plan) -> str:
    simulations = [
        f"{request.backend} (card {request.card.name if request.card else request.delphes_card}, seed {request.seed})"
        for _, request in plan.steps_of(detector.Request)
    ]
    return ", ".join(simulations) or "none (particle level)"
