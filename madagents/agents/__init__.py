"""The five roles of the graph, one node function each."""

from madagents.agents.analyst import analyst
from madagents.agents.generator import generator
from madagents.agents.installer import installer
from madagents.agents.planner import planner
from madagents.agents.reviewer import reviewer

__all__ = ["analyst", "generator", "installer", "planner", "reviewer"]
