from __future__ import annotations

import pytest
from langgraph.graph import END
from pydantic import ValidationError

from madagents.agents.dispatcher import route_ready_steps
from madagents.agents.planner import plan_workflow
from madagents.graph import NODES, build_graph, proceed_unless_failed, route_after_reviewer
from madagents.state import (
    Plan,
    Role,
    RunState,
    SendBack,
    downstream,
    first_error,
    merge_requests,
    merge_results,
)
from madagents.workflow import load_workflow
from madagents_tools.analysis import analyze
from madagents_tools.generation import pythia8_generate
from tests.conftest import DRELL_YAN


def _state(**fields: object) -> RunState:
    return RunState(workflow=load_workflow(DRELL_YAN), **fields)  # type: ignore[arg-type]


def test_router_goes_on_when_nothing_failed() -> None:
    assert proceed_unless_failed("generator")(_state()) == "generator"


def test_router_ends_the_run_after_a_failure() -> None:
    assert proceed_unless_failed("generator")(_state(error="installer failed")) == END


def test_graph_wires_the_roles_through_the_dispatcher() -> None:
    graph = build_graph().get_graph()
    assert set(NODES) <= set(graph.nodes)
    edges = {(edge.source, edge.target) for edge in graph.edges}
    assert {("__start__", "planner"), ("planner", "installer"), ("installer", "dispatcher")} <= edges
    for role in ("generator", "analyst"):
        assert ("dispatcher", role) in edges
        assert (role, "dispatcher") in edges
        assert (role, "__end__") in edges
    assert {("dispatcher", "reviewer"), ("reviewer", "dispatcher"), ("reviewer", "__end__")} <= edges
    assert ("reviewer", "planner") in edges  # a re-plan


def _two_samples() -> Plan:
    """Two independent generations, each with its own analysis."""
    plan = plan_workflow(load_workflow(DRELL_YAN))
    generate, analyse = plan.steps
    other_generate = generate.model_copy(update={"id": "03-generate_b"})
    other_analyse = analyse.model_copy(update={"id": "04-analyze_b", "needs": ["03-generate_b"]})
    return plan.model_copy(update={"steps": [generate, analyse, other_generate, other_analyse]})


def test_dispatcher_sends_every_ready_step_at_once() -> None:
    plan = _two_samples()
    first_wave = route_ready_steps(RunState(plan=plan))
    assert isinstance(first_wave, list)
    assert [(send.node, send.arg.current_step) for send in first_wave] == [
        ("generator", "01-generate"),
        ("generator", "03-generate_b"),
    ]
    generated = {"01-generate": pythia8_generate.Result(ok=True)}
    second_wave = route_ready_steps(RunState(plan=plan, results=generated))
    assert isinstance(second_wave, list)
    assert [send.arg.current_step for send in second_wave] == ["02-analyze", "03-generate_b"]


def test_dispatcher_hands_over_to_the_reviewer_when_every_step_is_done_and_stops_after_a_failure() -> None:
    plan = _two_samples()
    results = {step.id: analyze.Result(ok=True) for step in plan.steps}
    assert route_ready_steps(RunState(plan=plan, results=results)) == "reviewer"
    assert route_ready_steps(RunState(plan=plan, error="generator step 01-generate failed")) == END


def test_a_plan_whose_step_needs_a_later_step_is_refused() -> None:
    plan = plan_workflow(load_workflow(DRELL_YAN))
    generate, analyse = plan.steps
    with pytest.raises(ValidationError, match="not earlier steps"):
        Plan.model_validate(plan.model_dump() | {"steps": [analyse.model_dump(), generate.model_dump()]})


def test_results_of_parallel_steps_merge_and_none_drops_one() -> None:
    first, second = pythia8_generate.Result(ok=True), analyze.Result(ok=True)
    merged = merge_results(merge_results({}, {"a": first}), {"b": second})
    assert merged == {"a": first, "b": second}
    assert merge_results(merged, {"a": None}) == {"b": second}
    assert first_error(first_error(None, "first"), "second") == "first"


def test_sending_back_to_the_generator_redoes_the_steps_that_read_its_outputs() -> None:
    plan = _two_samples()
    assert downstream(plan, {"01-generate"}) == {"01-generate", "02-analyze"}
    assert downstream(plan, {"01-generate", "03-generate_b"}) == {step.id for step in plan.steps}


def test_reviewer_routes_back_to_the_dispatcher_after_a_send_back() -> None:
    back = SendBack(role=Role.ANALYST, reasons=["rebin"])
    assert route_after_reviewer(RunState(send_back=back)) == "dispatcher"
    assert route_after_reviewer(RunState()) == END
    assert route_after_reviewer(RunState(send_back=back, error="budget")) == END


def test_reviewer_routes_a_plan_sent_back_to_the_planner() -> None:
    back = SendBack(role=Role.PLANNER, reasons=["the task asks for electrons"])
    assert route_after_reviewer(RunState(send_back=back)) == "planner"
    assert route_after_reviewer(RunState(send_back=back, error="budget")) == END


def test_a_replan_drops_every_corrected_request() -> None:
    plan = plan_workflow(load_workflow(DRELL_YAN))
    corrected = {step.id: step.request for step in plan.steps}
    assert merge_requests(corrected, dict.fromkeys(corrected)) == {}
    assert merge_requests({}, corrected) == corrected
