"""The agent topology: planner → installer → dispatcher ⇄ generator / analyst → reviewer, each step checkpointed.

The dispatcher sends every plan step whose inputs are ready to its role at once (LangGraph ``Send``), so
independent steps run in parallel, and comes back after each wave. A role that fails sets ``error`` and the run
ends there; the reviewer decides whether results are signed off and, when a model drives the roles, may send
steps back (their results are dropped and the dispatcher runs them again) or send the plan back to the planner
(which re-plans, and the run goes through the installer again), in a bounded number of rounds.
"""

from __future__ import annotations

from collections.abc import Callable

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from madagents.agents import analyst, generator, installer, planner, reviewer
from madagents.agents.dispatcher import dispatcher, route_ready_steps
from madagents.agents.steps import traced
from madagents.context import RunContext
from madagents.state import Role, RunState

__all__ = ["NODES", "build_graph", "proceed_unless_failed", "route_after_reviewer"]

NODES = ("planner", "installer", "dispatcher", "generator", "analyst", "reviewer")
DISPATCHER = "dispatcher"


def proceed_unless_failed(next_node: str) -> Callable[[RunState], str]:
    """Router: go on to ``next_node`` unless a node before set ``error``."""

    def route(state: RunState) -> str:
        return END if state.error is not None else next_node

    route.__name__ = f"route_to_{next_node}"
    return route


def route_after_reviewer(state: RunState) -> str:
    """Back to the planner or the dispatcher when the reviewer sent the plan or steps back, otherwise the end."""
    if state.error is not None or state.send_back is None:
        return END
    return "planner" if state.send_back.role == Role.PLANNER else DISPATCHER


def build_graph(
    checkpointer: BaseCheckpointSaver[str] | None = None,
) -> CompiledStateGraph[RunState, RunContext, RunState, RunState]:
    graph = StateGraph(RunState, context_schema=RunContext)
    graph.add_node("planner", traced("planner", planner))
    graph.add_node("installer", traced("installer", installer))
    graph.add_node(DISPATCHER, dispatcher)
    graph.add_node("generator", traced("generator", generator))
    graph.add_node("analyst", traced("analyst", analyst))
    graph.add_node("reviewer", traced("reviewer", reviewer))

    graph.add_edge(START, "planner")
    graph.add_conditional_edges("planner", proceed_unless_failed("installer"), ["installer", END])
    graph.add_conditional_edges("installer", proceed_unless_failed(DISPATCHER), [DISPATCHER, END])
    graph.add_conditional_edges(DISPATCHER, route_ready_steps, ["generator", "analyst", "reviewer", END])
    for role in ("generator", "analyst"):
        graph.add_conditional_edges(role, proceed_unless_failed(DISPATCHER), [DISPATCHER, END])
    graph.add_conditional_edges("reviewer", route_after_reviewer, ["planner", DISPATCHER, END])
    return graph.compile(checkpointer=checkpointer)
