"""Typed state of a run: the plan, what each role did, and the reviewer's verdict.

Every node of the graph reads a :class:`RunState` and returns only the fields it changes; fields that several
nodes append to declare their reducer.
"""

from __future__ import annotations

import operator
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from madagents.llm.budget import Spend
from madagents.reanalysis_spec import AnyRun
from madagents.reference import ReferenceExpectation
from madagents.sandbox.host import ToolHost
from madagents_tools import environment as environment_tool
from madagents_tools.analysis import analyze, plot_samples
from madagents_tools.contract import FileRecord, ToolRequest, ToolResult
from madagents_tools.detector import detector
from madagents_tools.generation import merge_samples, mg5_generate, pythia8_generate
from madagents_tools.io import source_events
from madagents_tools.ml import amplitude_surrogate, cfm_generator, classifier_test

__all__ = [
    "Assumption",
    "AssumptionSource",
    "Expectations",
    "GateResult",
    "NotDone",
    "PeakExpectation",
    "Plan",
    "PlanStep",
    "Review",
    "Role",
    "RunState",
    "SendBack",
    "StepRequest",
    "StepResult",
    "Task",
    "ToolCall",
    "Verdict",
    "downstream",
    "first_error",
    "merge_requests",
    "merge_results",
    "result_type",
    "typed_results",
]


RequestT = TypeVar("RequestT", bound=ToolRequest)
StepResultT = TypeVar("StepResultT", bound=ToolResult)


class Role(StrEnum):
    PLANNER = "planner"
    INSTALLER = "installer"
    GENERATOR = "generator"
    ANALYST = "analyst"
    REVIEWER = "reviewer"


class AssumptionSource(StrEnum):
    TASK = "task"
    """Stated in the workflow or task."""
    DEFAULT = "default"
    """A tool's default that the task did not override."""
    USER = "user"
    """Given by the user on the command line or in chat."""
    CONVENTION = "convention"
    """Common practice, chosen because the task is silent."""
    AGENT = "agent"
    """Decided by a model-driven role where the task is silent or ambiguous."""


class Assumption(BaseModel):
    """A choice that shapes the result, with where it came from and what it affects."""

    model_config = ConfigDict(frozen=True)

    topic: str = Field(description="What the choice is about, e.g. 'PDF set'.")
    choice: str = Field(description="What was chosen.")
    source: AssumptionSource
    reason: str = Field(description="Why this choice.")
    affects: list[str] = Field(description="Which outputs depend on it, e.g. ['cross section', 'm_mumu'].")


class NotDone(BaseModel):
    """A part of the request the run does not honour, said rather than silently dropped."""

    model_config = ConfigDict(frozen=True)

    what: str = Field(description="The part of the request that is not done, e.g. 'the four-lepton mass'.")
    why: str = Field(description="Why it cannot be done here, e.g. 'the analysis language has no m(4ℓ)'.")
    needed: str = Field(description="What would be needed to do it, e.g. 'an invariant mass of N objects'.")


StepRequest = Annotated[
    mg5_generate.Request
    | amplitude_surrogate.Request
    | pythia8_generate.Request
    | merge_samples.Request
    | detector.Request
    | cfm_generator.Request
    | analyze.Request
    | plot_samples.Request
    | classifier_test.Request
    | source_events.Request,
    Field(discriminator="tool"),
]
StepResult = (
    mg5_generate.Result
    | amplitude_surrogate.Result
    | pythia8_generate.Result
    | detector.Result
    | cfm_generator.Result
    | analyze.Result
    | plot_samples.Result
    | classifier_test.Result
    | source_events.Result
)
"""Results are kept as the instances their tool returned, so the union needs no discriminator."""

_RESULT_TYPES: dict[str, type[StepResult]] = {
    "mg5_generate": mg5_generate.Result,
    "amplitude_surrogate": amplitude_surrogate.Result,
    "pythia8_generate": pythia8_generate.Result,
    "merge_samples": pythia8_generate.Result,  # the merged chunks are one Pythia8 sample
    "detector": detector.Result,
    "cfm_generator": cfm_generator.Result,
    "analyze": analyze.Result,
    "plot_samples": plot_samples.Result,
    "classifier_test": classifier_test.Result,
    "source_events": source_events.Result,
}


def result_type(request: ToolRequest) -> type[StepResult]:
    """The result model of the tool ``request`` runs."""
    return _RESULT_TYPES[request.tool]


class PlanStep(BaseModel):
    """One tool call of the plan."""

    id: str = Field(pattern=r"^\d{2}-[a-z0-9_]+$", description="Ordered id, also the step directory name.")
    role: Literal[Role.GENERATOR, Role.ANALYST]
    description: str
    request: StepRequest
    needs: list[str] = Field(
        default_factory=list, description="Steps whose outputs this one reads; steps with none pending run in parallel."
    )


class PeakExpectation(BaseModel):
    histogram: str
    particle: str
    mass_gev: float
    width_gev: float
    steps: list[str] | None = Field(
        default=None,
        description="The analysis steps whose histogram must peak (a workflow's own sample); None: every one.",
        exclude_if=lambda value: value is None,  # plans of single-sample workflows read as before
    )


class Expectations(BaseModel):
    """What the reviewer checks the outputs against."""

    n_events: int
    peaks: list[PeakExpectation] = Field(default_factory=list)
    edges: list[PeakExpectation] = Field(
        default_factory=list,
        description="m_T histograms whose Jacobian edge must lie at a charged resonance's mass.",
        exclude_if=lambda value: not value,  # plans without one read as before (the cassettes pin prompts)
    )
    channel_branching_fraction: float = Field(
        default=1.0,
        description="Product of branching fractions of the selected channel not already in the generator's σ.",
    )
    surrogate_fraction_within_1pct_min: float | None = Field(
        default=None, description="Share of held-out points an amplitude surrogate must predict within 1 %."
    )
    reference: ReferenceExpectation | None = Field(
        default=None,
        description="Published histograms (checks.reference) the run's must agree with.",
        exclude_if=lambda value: value is None,  # plans without one read as before (the cassettes pin prompts)
    )


class Plan(BaseModel):
    """The typed plan every role executes; written to plan.json."""

    workflow: str
    summary: str
    run_seed: int
    derived_seeds: dict[str, int] = Field(description="Seed of each stochastic step, derived from run_seed.")
    steps: list[PlanStep]
    expectations: Expectations
    assumptions: list[Assumption]
    required_packages: list[str] = Field(description="Packages the sandbox must provide.")

    @model_validator(mode="after")
    def _needs_are_earlier_steps(self) -> Plan:
        # listing steps in dependency order makes every plan a DAG that the dispatcher can finish
        seen: set[str] = set()
        for step in self.steps:
            unknown = [need for need in step.needs if need not in seen]
            if unknown:
                msg = f"step {step.id} needs {unknown}, which are not earlier steps of the plan"
                raise ValueError(msg)
            seen.add(step.id)
        return self

    def step_request(self, kind: type[RequestT]) -> RequestT:
        """The request of the plan's first step that runs tool ``kind``."""
        for step in self.steps:
            if isinstance(step.request, kind):
                return step.request
        msg = f"plan has no {kind.__module__} step"
        raise LookupError(msg)

    def step(self, step_id: str) -> PlanStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        msg = f"plan has no step {step_id}"
        raise LookupError(msg)

    def steps_of(self, kind: type[RequestT]) -> list[tuple[PlanStep, RequestT]]:
        """Every step that runs tool ``kind``, with its request typed."""
        return [(step, step.request) for step in self.steps if isinstance(step.request, kind)]

    def with_requests(self, requests: dict[str, StepRequest]) -> Plan:
        """This plan with the requests of some steps replaced (a model-driven role corrected them)."""
        steps = [step.model_copy(update={"request": requests.get(step.id, step.request)}) for step in self.steps]
        return self.model_copy(update={"steps": steps})


def downstream(plan: Plan, step_ids: set[str]) -> set[str]:
    """``step_ids`` and every step that reads their outputs, directly or not."""
    found = set(step_ids)
    for step in plan.steps:  # steps come in dependency order
        if found.intersection(step.needs):
            found.add(step.id)
    return found


class ToolCall(BaseModel):
    """A finished tool call, as recorded in the state and trace."""

    step_dir: str
    tool: str
    ok: bool
    error: str | None = None
    seconds: float
    cpu_seconds: float | None = None
    """CPU time of the tool, as its sandbox measured it (None: not measured)."""
    log_path: str
    plan_fixed: bool = Field(
        default=False, description="Run as planned by a model-driven role without a model call (nothing to decide)."
    )


class GateResult(BaseModel):
    """Outcome of one physics gate."""

    gate: str
    passed: bool
    message: str
    inconclusive: bool = Field(
        default=False, description="Too few events for the gate to mean anything: it neither passes nor fails."
    )

    @property
    def mark(self) -> str:
        return "?" if self.inconclusive else ("✓" if self.passed else "✗")


class Verdict(BaseModel):
    signed_off: bool
    gates: list[GateResult]

    def failures(self) -> list[GateResult]:
        return [gate for gate in self.gates if not gate.passed]

    def tally(self) -> str:
        """ "7/9 passed, 2 inconclusive": an inconclusive gate did not fail, but it proved nothing either."""
        unsure = sum(gate.inconclusive for gate in self.gates)
        passed = sum(gate.passed and not gate.inconclusive for gate in self.gates)
        return f"{passed}/{len(self.gates)} passed" + (f", {unsure} inconclusive" if unsure else "")


class Task(BaseModel):
    """A request in prose (a student's question or a paper's analysis description) for the model-driven planner."""

    text: str
    seed: int = Field(ge=1, lt=2**63, description="The run seed the planner must use.")
    max_events: int | None = Field(default=None, gt=0, description="Upper bound on the events of the plan.")
    folder: str | None = Field(
        default=None, description="The task file's folder: a reference file the task names is read relative to it."
    )


class SendBack(BaseModel):
    """The reviewer returns a step to its role, or the whole run to the planner, with what to fix."""

    role: Literal[Role.PLANNER, Role.GENERATOR, Role.ANALYST]
    reasons: list[str] = Field(min_length=1, description="What is wrong and what to do instead, one item each.")


class Review(BaseModel):
    """One round of the model-driven reviewer (written to reviews/round-<n>.json)."""

    round: int
    signed_off: bool
    summary: str
    concerns: list[str] = Field(default_factory=list, description="Problems noticed, e.g. injected instructions.")
    send_back: SendBack | None = None


def typed_results(
    plan: Plan | None, results: dict[str, StepResult], kind: type[StepResultT]
) -> list[tuple[PlanStep, StepResultT]]:
    """Finished steps whose result is a ``kind``, in plan order."""
    steps = plan.steps if plan is not None else []
    return [(step, result) for step in steps if isinstance(result := results.get(step.id), kind)]


def merge_results(current: dict[str, StepResult], update: dict[str, StepResult | None]) -> dict[str, StepResult]:
    """Results of parallel steps merge by step id; ``None`` drops a result (the step is to be redone)."""
    merged = {**current, **update}
    return {step_id: result for step_id, result in merged.items() if result is not None}


def merge_requests(current: dict[str, StepRequest], update: dict[str, StepRequest | None]) -> dict[str, StepRequest]:
    """Corrected requests merge by step id; ``None`` drops one (the plan it amended was replaced)."""
    merged = {**current, **update}
    return {step_id: request for step_id, request in merged.items() if request is not None}


def first_error(current: str | None, update: str | None) -> str | None:
    """The first failure stops the run; a parallel step failing later does not overwrite its reason."""
    return current if current is not None else update


class RunState(BaseModel):
    """Everything the graph knows about one run; checkpointed after every node."""

    workflow: AnyRun | None = None
    """The validated request this run executes: given (``madagents run``) or chosen by the planner from ``task``."""
    task: Task | None = None
    """A request in prose, planned by the model (``madagents reproduce``, chat)."""
    plan: Plan | None = None
    """Set by the planner; the dispatcher applies ``amended_requests`` to it."""
    sandbox: str | None = None
    """What runs the tools (backend, image), set by the installer."""
    tool_host: ToolHost | None = None
    """The same as a record reproduce.sh is rendered from (interpreter, image id, container limits)."""
    environment: environment_tool.Result | None = None
    """What the installer found in the sandbox (package versions)."""
    results: Annotated[dict[str, StepResult], merge_results] = Field(default_factory=dict)
    """Result of each finished plan step, by step id."""
    current_step: str | None = None
    """In the input of a generator or analyst task (a LangGraph ``Send``): the step it runs. Never a state update."""
    amended_requests: Annotated[dict[str, StepRequest], merge_requests] = Field(default_factory=dict)
    """Requests a model-driven role ran instead of the planned ones, by step id."""
    tool_calls: Annotated[list[ToolCall], operator.add] = Field(default_factory=list)
    """Every tool call, in order."""
    artifacts: Annotated[list[FileRecord], operator.add] = Field(default_factory=list)
    """Every file the tools wrote, with hashes."""
    verdict: Verdict | None = None
    """The reviewer's gates and sign-off."""
    error: Annotated[str | None, first_error] = None
    """Why the run stopped; set by the first node that fails."""
    assumptions: Annotated[list[Assumption], operator.add] = Field(default_factory=list)
    """Decisions the model-driven roles recorded with the record_assumption tool (beside the plan's own)."""
    not_done: Annotated[list[NotDone], operator.add] = Field(default_factory=list)
    """Parts of the request the model-driven roles recorded as not done (record_not_done), for the report."""
    spend: Annotated[Spend, operator.add] = Field(default_factory=Spend)
    """Tokens, dollars, seconds and tool rounds used so far; every node returns what it spent itself."""
    reviews: Annotated[list[Review], operator.add] = Field(default_factory=list)
    """Every round of the model-driven reviewer."""
    send_back: SendBack | None = None
    """Set by the reviewer when a step (or, sent to the planner, the plan) must be redone; the graph routes back."""
