"""The write-up of a finished run: report.md for people, provenance.json for machines."""

from __future__ import annotations

from importlib import metadata

from madagents.context import RunContext
from madagents.llm.budget import Spend
from madagents.reproduce import render_template
from madagents.rundir import Provenance
from madagents.state import Plan, Review, RunState, Verdict
from tools import pythia8_generate

__all__ = ["write_provenance", "write_report"]


def write_report(
    ctx: RunContext, state: RunState, plan: Plan, verdict: Verdict, reviews: list[Review], spend: Spend
) -> None:
    text = render_template(
        "report.md.j2",
        run_id=ctx.rundir.run_id,
        plan=plan,
        task=state.task,
        generator_settings=plan.step_request(pythia8_generate.Request).settings,
        generation=state.generation,
        analysis=state.analysis,
        verdict=verdict,
        assumptions=[*plan.assumptions, *state.assumptions],
        reviews=reviews,
        spend=spend,
    )
    ctx.rundir.write_text("report.md", text)


def write_provenance(ctx: RunContext, state: RunState, plan: Plan) -> None:
    """Versions, settings, seeds, command line and the hash of every artifact (written last)."""
    packages: dict[str, str] = {"madagents": metadata.version("madagents")}
    for result in (state.environment, state.generation, state.analysis):
        if result is not None:
            packages.update(result.versions)
    provenance = Provenance(
        run_id=ctx.rundir.run_id,
        madagents_version=packages["madagents"],
        command_line=ctx.command_line,
        sandbox=state.sandbox or ctx.sandbox.name,
        packages=dict(sorted(packages.items())),
        generator_settings=plan.step_request(pythia8_generate.Request).settings,
        run_seed=plan.run_seed,
        derived_seeds=plan.derived_seeds,
        artifacts=ctx.rundir.artifacts(),
    )
    ctx.rundir.write_model("provenance.json", provenance)
