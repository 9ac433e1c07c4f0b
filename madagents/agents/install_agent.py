"""The model-driven installer: reports, from an inspection of the sandbox, whether the plan can run there.

The plan fixes what must be looked up (its packages and the programs its steps call), so that inspection runs
without a model call (``plan_fixed`` in trace.jsonl). The model decides the rest: what else to look up (optional
extras), what the versions imply for the physics, and how to get what is missing; code keeps it honest: the
sandbox cannot be called ready while one of the plan's packages is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from madagents.agents.loop import AgentTool, ToolInputError, assumption_tool, run_agent, start_messages
from madagents.context import RunContext
from madagents.prompts import load_prompt
from madagents.rundir import TraceEvent
from madagents.state import Assumption, Plan, Role, RunState, ToolCall
from madagents.toolcall import call_tool
from madagents_tools import environment
from madagents_tools.contract import NOT_INSTALLED

__all__ = ["EnvironmentReport", "check_with_model"]


class EnvironmentReport(BaseModel):
    ready: bool = Field(description="True when the sandbox can run every step of the plan.")
    summary: str = Field(description="One or two sentences: what was found, with the versions that matter.")
    how_to_fix: list[str] = Field(
        default_factory=list,
        description="For each missing package or program: how to get it (a pip package, an image to build, a setting).",
    )


@dataclass(slots=True)
class _Findings:
    """What the model looked up and reported, checked against the plan as it goes."""

    ctx: RunContext
    plan: Plan
    step_dir: str
    inspections: list[environment.Result] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    reports: list[EnvironmentReport] = field(default_factory=list)

    def inspect(self, request: environment.Request, *, plan_fixed: bool = False) -> str:
        step_dir = f"{self.step_dir}/check-{len(self.calls) + 1}"
        result, call = call_tool(self.ctx, step_dir, request, environment.Result)
        self.calls.append(call.model_copy(update={"plan_fixed": plan_fixed}))
        self.inspections.append(result)
        return result.model_dump_json(include={"ok", "error", "versions", "missing", "programs"})

    def report(self, report: EnvironmentReport) -> str:
        missing = _missing(self.plan, self.inspections)
        if report.ready and missing:
            msg = f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing: the sandbox is not ready"
            raise ToolInputError(msg)
        if not report.ready and not report.how_to_fix:
            msg = "say how to get what is missing (how_to_fix)"
            raise ToolInputError(msg)
        self.reports.append(report)
        return "reported"


def check_with_model(
    ctx: RunContext,
    state: RunState,
    plan: Plan,
    step_dir: str,
    programs: list[str],
    fix: Callable[[list[str]], str],
) -> dict[str, Any]:
    """Inspect the sandbox for the plan's packages and ``programs``, and let the installer's model report on it.

    Returns the installer's state update. ``fix`` says how to get missing packages in the sandbox in use; in a
    container it replaces the model's pip advice, which cannot change an image.
    """
    findings = _Findings(ctx, plan, step_dir)
    inspected = _inspect_as_planned(findings, programs)
    recorded: list[Assumption] = []
    tools = [
        AgentTool(
            "inspect_sandbox",
            "Look up packages (versions) and programs (paths) in the sandbox.",
            environment.Request,
            findings.inspect,
        ),
        AgentTool(
            "report_environment", "Report whether the plan can run here.", EnvironmentReport, findings.report, True
        ),
        assumption_tool(Role.INSTALLER, recorded),
    ]
    prompt = load_prompt(
        "installer",
        backend=ctx.sandbox.name,
        plan_summary=plan.summary,
        tools=sorted({step.request.tool for step in plan.steps}),
        packages=plan.required_packages,
        programs=programs,
        inspected=inspected,
    )
    outcome = run_agent(
        ctx, Role.INSTALLER, start_messages(prompt, "Check the sandbox for this plan."), tools, state.spend
    )
    update: dict[str, Any] = {"tool_calls": findings.calls, "assumptions": recorded, "spend": outcome.spend}
    if not findings.reports:
        update["error"] = f"the installer ended without reporting on the sandbox: {outcome.final_text[:300]}"
        return update
    verdict = findings.reports[-1]
    if not verdict.ready and ctx.sandbox.isolated:
        advice = [line for line in verdict.how_to_fix if "pip install" not in line]
        verdict = verdict.model_copy(update={"how_to_fix": [fix(_missing(plan, findings.inspections)), *advice]})
    ctx.rundir.write_model(f"{step_dir}/report.json", verdict)
    ctx.reporter.note(verdict.summary)
    update["environment"] = _combined(plan, findings.inspections)
    if not verdict.ready:
        update["error"] = (
            f"the installer finds that the {ctx.sandbox.name} sandbox cannot run this plan: {verdict.summary} "
            f"To fix: {'; '.join(verdict.how_to_fix)}"
        )
    return update


def _inspect_as_planned(findings: _Findings, programs: list[str]) -> str:
    """The look-up the plan fixes (its packages, ``programs``), without a model call; returns its answer."""
    findings.ctx.rundir.trace(
        TraceEvent(
            event="plan_fixed",
            node=Role.INSTALLER,
            step_dir=f"{findings.step_dir}/check-1",
            tool="environment",
            tokens=0,
            content="the plan fixes the packages and programs to look up: inspected without a model call",
        )
    )
    planned = environment.Request(packages=findings.plan.required_packages, programs=programs)
    return findings.inspect(planned, plan_fixed=True)


def _missing(plan: Plan, inspections: list[environment.Result]) -> list[str]:
    found = {name for result in inspections for name, version in result.versions.items() if version != NOT_INSTALLED}
    return [name for name in plan.required_packages if name not in found]


def _combined(plan: Plan, inspections: list[environment.Result]) -> environment.Result:
    """Everything the inspections found, as one result (the report's version table)."""
    missing = _missing(plan, inspections)
    versions = {name: version for result in inspections for name, version in result.versions.items()}
    programs = {name: path for result in inspections for name, path in result.programs.items()}
    return environment.Result(
        ok=not missing,
        error=f"missing packages: {', '.join(missing)}" if missing else None,
        versions=versions,
        missing=missing,
        programs=programs,
    )
