from __future__ import annotations

import itertools

from langgraph.graph import END

from madagents.graph import NODES, build_graph, proceed_unless_failed
from madagents.state import RunState
from madagents.workflow import load_workflow
from tests.conftest import DRELL_YAN


def _state(**fields: object) -> RunState:
    return RunState(workflow=load_workflow(DRELL_YAN), **fields)  # type: ignore[arg-type]


def test_router_goes_on_when_nothing_failed() -> None:
    assert proceed_unless_failed("generator")(_state()) == "generator"


def test_router_ends_the_run_after_a_failure() -> None:
    assert proceed_unless_failed("generator")(_state(error="installer failed")) == END


def test_graph_has_the_five_roles_in_order() -> None:
    graph = build_graph().get_graph()
    assert set(NODES) <= set(graph.nodes)
    edges = {(edge.source, edge.target) for edge in graph.edges}
    for before, after in itertools.pairwise(NODES):
        assert (before, after) in edges
        assert (before, "__end__") in edges
    assert ("__start__", "planner") in edges
    assert ("reviewer", "__end__") in edges


def test_reviewer_routes_back_to_the_role_it_sent_a_step_back_to() -> None:
    from madagents.graph import route_after_reviewer  # noqa: PLC0415
    from madagents.state import Role, SendBack  # noqa: PLC0415

    back = SendBack(role=Role.ANALYST, reasons=["rebin"])
    assert route_after_reviewer(RunState(send_back=back)) == "analyst"
    assert route_after_reviewer(RunState()) == END
    assert route_after_reviewer(RunState(send_back=back, error="budget")) == END
