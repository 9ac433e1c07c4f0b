"""The agent topology: planner → installer → generator → analyst → reviewer, each step checkpointed.

A role that fails sets ``error`` and the run ends there; the reviewer decides whether results are signed off and,
when a model drives the roles, may send the generator's or the analyst's step back (bounded rounds).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from madagents.agents import analyst, generator, installer, planner, reviewer
from madagents.agents.steps import traced
from madagents.context import RunContext
from madagents.state import RunState

__all__ = ["NODES", "build_graph", "proceed_unless_failed", "route_after_reviewer"]

NODES = ("planner", "installer", "generator", "analyst", "reviewer")


def proceed_unless_failed(next_node: str) -> Callable[[RunState], str]:
    """Router: go on to ``next_node`` unless the node before set ``error``."""

    def route(state: RunState) -> str:
        return END if state.error is not None else next_node

    route.__name__ = f"route_to_{next_node}"
    return route


def route_after_reviewer(state: RunState) -> str:
    """Back to the role the reviewer sent a step back to, otherwise the end."""
    if state.error is None and state.send_back is not None:
        return str(state.send_back.role)
    return END


def build_graph(
    checkpointer: BaseCheckpointSaver[str] | None = None,
) -> CompiledStateGraph[RunState, RunContext, RunState, RunState]:
    graph = StateGraph(RunState, context_schema=RunContext)
    graph.add_node("planner", traced("planner", planner))
    graph.add_node("installer", traced("installer", installer))
    graph.add_node("generator", traced("generator", generator))
    graph.add_node("analyst", traced("analyst", analyst))
    graph.add_node("reviewer", traced("reviewer", reviewer))

    graph.add_edge(START, "planner")
    for node, next_node in itertools.pairwise(NODES):
        graph.add_conditional_edges(node, proceed_unless_failed(next_node), {next_node: next_node, END: END})
    graph.add_conditional_edges(
        "reviewer", route_after_reviewer, {"generator": "generator", "analyst": "analyst", END: END}
    )
    return graph.compile(checkpointer=checkpointer)
