"""Installer: makes sure the sandbox can run every tool of the plan, and records what runs them.

With a model, the model inspects the sandbox and reports (:mod:`madagents.agents.install_agent`); without one, the
plan's packages are looked up and any missing one is an error.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.install_agent import check_with_model
from madagents.agents.steps import require_plan
from madagents.context import RunContext
from madagents.images import image_for, image_kind
from madagents.reproduce import run_tool_host, write_reproduce_script
from madagents.sandbox import SandboxUnavailableError
from madagents.sandbox.docker import build_command
from madagents.settings import Settings
from madagents.state import Plan, RunState
from madagents.toolcall import call_tool
from madagents_tools import environment

__all__ = ["how_to_get", "installer", "plan_image", "plan_needs"]

ENVIRONMENT_STEP = "steps/00-environment"
PROGRAMS = {"mg5_generate": "mg5_aMC", "delphes": "DelphesHepMC3"}
"""The program each need of a plan (its tools, Delphes) runs, looked up on the sandbox's PATH."""


def plan_needs(plan: Plan) -> list[str]:
    """The tools, packages and programs a plan needs: what chooses its image."""
    needs = {step.request.tool for step in plan.steps} | set(plan.required_packages)
    if any(getattr(step.request, "backend", None) == "delphes" for step in plan.steps):
        needs.add("delphes")  # the detector tool runs in hep with the parametric backend
    return sorted(needs)


def plan_image(plan: Plan, settings: Settings) -> tuple[str, str]:
    """The kind (hep, hep-full, ml) and name of the image that holds what ``plan`` needs."""
    needs = plan_needs(plan)
    return image_kind(needs), image_for(needs, settings)


def how_to_get(ctx: RunContext, kind: str, missing: list[str]) -> str:
    """How to get what is missing, in the terms of the sandbox in use: an image to build, or packages to install."""
    if ctx.sandbox.name == "docker":
        return f"build the {kind} image that holds them with `{build_command(kind)}`"
    return (
        f"install them with `pip install {' '.join(missing)}` (or reinstall madagents, which brings the offline stack)"
    )


def installer(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Prepare the sandbox (building its image in run mode) and check the plan's required packages in it."""
    ctx = runtime.context
    plan = require_plan(state)
    try:
        kind, image = plan_image(plan, ctx.settings)
    except ValueError as exc:
        return {"error": str(exc)}
    ctx.sandbox.use_image(kind, image)
    build_log = ctx.rundir.file(f"{ENVIRONMENT_STEP}/sandbox.log")
    build_log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with build_log.open("w") as log:
            found = ctx.sandbox.ensure_ready(build=True, on_line=lambda line: print(line, file=log))
    except SandboxUnavailableError as exc:
        return {"error": f"the {ctx.sandbox.name} sandbox cannot run tools: {exc}"}
    ctx.reporter.note(found)
    host = run_tool_host(ctx)
    write_reproduce_script(ctx.rundir, plan, host)  # now that what runs the tools is known
    update: dict[str, Any] = {"sandbox": ctx.sandbox.describe(), "tool_host": host}
    if ctx.models is not None:
        programs = [program for need, program in PROGRAMS.items() if need in plan_needs(plan)]
        return update | check_with_model(
            ctx, state, plan, ENVIRONMENT_STEP, programs, lambda missing: how_to_get(ctx, kind, missing)
        )
    request = environment.Request(packages=plan.required_packages)
    result, call = call_tool(ctx, ENVIRONMENT_STEP, request, environment.Result)
    update |= {"environment": result, "tool_calls": [call]}
    if result.missing:
        update["error"] = f"the {ctx.sandbox.name} sandbox lacks {', '.join(result.missing)}; " + how_to_get(
            ctx, kind, result.missing
        )
    elif not result.ok:
        update["error"] = f"cannot inspect the {ctx.sandbox.name} sandbox: {result.error} (log: {call.log_path})"
    return update
