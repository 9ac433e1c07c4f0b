"""The model-driven planner: a task in prose → a validated :class:`Workflow` → the typed :class:`Plan`.

The model chooses the physics (process, energy, cuts, histograms) in the workflow language that people write by
hand; the planner's ``plan_workflow`` turns that into tool requests. So a model's plan is exactly as checkable,
and as re-runnable without a model, as a shipped workflow: it is written to the run directory as workflow.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from madagents.agents.loop import (
    AgentGaveUpError,
    AgentTool,
    ToolInputError,
    assumption_tool,
    not_done_tool,
    run_agent,
    start_messages,
)
from madagents.context import RunContext
from madagents.input_errors import describe_errors
from madagents.llm.budget import Spend
from madagents.processes import catalogue_summaries
from madagents.prompts import load_prompt
from madagents.state import Assumption, NotDone, Role, RunState, Task
from madagents.workflow import Workflow

__all__ = ["TaskPlanning", "choose_workflow"]


@dataclass(slots=True)
class TaskPlanning:
    spend: Spend
    workflow: Workflow | None = None
    assumptions: list[Assumption] = field(default_factory=list)
    not_done: list[NotDone] = field(default_factory=list)
    error: str | None = None


def choose_workflow(ctx: RunContext, state: RunState, task: Task) -> TaskPlanning:
    """Ask the model for a workflow until one validates (bounded retries); after a send-back, with its reasons."""
    recorded: list[Assumption] = []
    undone: list[NotDone] = []
    submissions = _Submissions(limit=ctx.settings.llm.max_plan_attempts)

    def submit(workflow: Workflow) -> str:
        submissions.count_attempt("")
        problems = _task_rules(workflow, task)
        if problems:
            raise ToolInputError(problems)
        submissions.accepted = workflow
        return f"workflow {workflow.name} accepted: {workflow.events} events, seed {workflow.seed}"

    tools = [
        AgentTool(
            name="submit_workflow",
            description="Submit the workflow that answers the task (validated; errors come back to you).",
            args_schema=Workflow,
            handler=submit,
            ends_turn=True,
            describe_error=submissions.invalid,
            context={"folder": task.folder} if task.folder else None,
        ),
        assumption_tool(Role.PLANNER, recorded),
        not_done_tool(undone),
    ]
    back = state.send_back if state.send_back is not None and state.send_back.role == Role.PLANNER else None
    prompt = load_prompt(
        "planner",
        task=task.text,
        seed=task.seed,
        max_events=task.max_events,
        max_attempts=submissions.limit,
        catalogue=catalogue_summaries(),
        feedback=back.reasons if back is not None else [],
        previous_workflow=_previous_workflow(state) if back is not None else "",
    )
    messages = start_messages(prompt, "Plan the task above and submit the workflow.")
    try:
        outcome = run_agent(ctx, Role.PLANNER, messages, tools, state.spend)
    except AgentGaveUpError as exc:
        return TaskPlanning(spend=state.spend, error=str(exc))
    if not outcome.finished or submissions.accepted is None:
        return TaskPlanning(spend=outcome.spend, error="the planner ended without submitting a valid workflow")
    return TaskPlanning(spend=outcome.spend, workflow=submissions.accepted, assumptions=recorded, not_done=undone)


def _previous_workflow(state: RunState) -> str:
    """The workflow the reviewer sent back, as the YAML the planner submitted."""
    if state.workflow is None:
        msg = "the reviewer sent back a plan that was never made; the planner runs before the reviewer"
        raise RuntimeError(msg)
    return yaml.safe_dump(state.workflow.model_dump(mode="json"), sort_keys=False, allow_unicode=True).strip()


def _task_rules(workflow: Workflow, task: Task) -> str:
    problems = []
    if workflow.seed != task.seed:
        problems.append(f"seed must be the run seed {task.seed}, not {workflow.seed}")
    if task.max_events is not None:
        sizes = [workflow.events, *(sample.events for sample in workflow.samples if sample.events is not None)]
        if max(sizes) > task.max_events:
            problems.append(f"events must be at most {task.max_events}, not {max(sizes)}")
    return "; ".join(problems)


@dataclass(slots=True)
class _Submissions:
    """Counts the model's workflow submissions, valid or not, so its retries are bounded."""

    limit: int
    used: int = 0
    accepted: Workflow | None = None

    def count_attempt(self, last_error: str) -> None:
        self.used += 1
        if self.used > self.limit:
            msg = f"the planner gave no valid workflow in {self.limit} attempts{last_error}"
            raise AgentGaveUpError(msg)

    def invalid(self, exc: ValidationError) -> str:
        problems = describe_errors(Path("workflow"), exc, Workflow)
        self.count_attempt(f"; last error: {problems}")
        return problems
