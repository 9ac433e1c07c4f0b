"""The write-up of a finished run: report.md for people, provenance.json for machines."""

from __future__ import annotations

from importlib import metadata

from madagents.claims import build_claims, render_claims
from madagents.context import RunContext
from madagents.llm.budget import Spend
from madagents.reproduce import render_template
from madagents.rundir import Provenance
from madagents.state import Plan, Review, RunState, Verdict, typed_results
from madagents_tools import TOOL_MODULES
from madagents_tools.analysis import analyze
from madagents_tools.detector import detector
from madagents_tools.generation import pythia8_generate

__all__ = ["write_provenance", "write_report"]


TOOL_FILES = {
    tool: "tools/" + module.removeprefix("madagents_tools.").replace(".", "/") + ".py"
    for tool, module in TOOL_MODULES.items()
}
"""Where each tool's source lives in the repository (the folder tools/ imports as madagents_tools)."""


def write_report(
    ctx: RunContext, state: RunState, plan: Plan, verdict: Verdict, reviews: list[Review], spend: Spend
) -> None:
    text = render_template(
        "report.md.j2",
        run_id=ctx.rundir.run_id,
        plan=plan,
        task=state.task,
        pythia_steps=plan.steps_of(pythia8_generate.Request),
        generated=typed_results(plan, state.results, pythia8_generate.Result),
        detector_steps=typed_results(plan, state.results, detector.Result),
        claims_block=_claims_block(ctx, plan, state),
        reference_plots=_reference_plots(ctx, plan, state),
        verdict=verdict,
        assumptions=[*plan.assumptions, *state.assumptions],
        not_done=state.not_done,
        reviews=reviews,
        spend=spend,
        plan_fixed=list(dict.fromkeys(f"`{call.step_dir}`" for call in state.tool_calls if call.plan_fixed)),
        tool_files=TOOL_FILES,
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
        tool_host=state.tool_host,
    )
    ctx.rundir.write_model("provenance.json", provenance)


def _reference_plots(ctx: RunContext, plan: Plan, state: RunState) -> list[str]:
    """The overlays on the paper's data (checks.reference), drawn for the report."""
    analyses = typed_results(plan, state.results, analyze.Result)
    if plan.expectations.reference is None or not analyses:
        return []
    from madagents.compare.reference_gate import draw_reference_overlays  # noqa: PLC0415 - matplotlib

    return draw_reference_overlays(ctx.rundir.path, plan.expectations.reference, analyses[0][1])


def _claims_block(ctx: RunContext, plan: Plan, state: RunState) -> str:
    """The results section, from the one record the reviewer checks it against."""
    try:
        return render_claims(build_claims(ctx.rundir.path, plan, state.results))
    except ValueError as exc:  # a histogram file that cannot be read: the gates say so too
        return f"## Results\nThe results could not be collected: {exc}\n"


def _detector(plan: Plan) -> str:
    simulations = [
        f"{request.backend} (card {request.card.name if request.card else request.delphes_card}, seed {request.seed})"
        for _, request in plan.steps_of(detector.Request)
    ]
    return ", ".join(simulations) or "none (particle level)"
