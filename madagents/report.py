"""The write-up of a finished run: report.md for people, provenance.json for machines."""

from __future__ import annotations

from importlib import metadata

from madagents.context import RunContext
from madagents.reproduce import render_template
from madagents.rundir import Provenance
from madagents.state import Plan, RunState, Verdict
from tools import analyze, pythia8_generate

__all__ = ["write_provenance", "write_report"]


def write_report(
    ctx: RunContext,
    plan: Plan,
    generation: pythia8_generate.Result,
    analysis: analyze.Result,
    verdict: Verdict,
) -> None:
    text = render_template(
        "report.md.j2",
        run_id=ctx.rundir.run_id,
        plan=plan,
        generator_settings=plan.step_request(pythia8_generate.Request).settings,
        generation=generation,
        analysis=analysis,
        verdict=verdict,
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
