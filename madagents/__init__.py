"""madagents: an agentic collider-simulation assistant.

The public API is small on purpose; the command line (``madagents``) is the main entry point. Names are
imported on first use so that ``madagents --help`` does not load LangGraph and the physics stack.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Plan",
    "RunFailedError",
    "RunResult",
    "RunState",
    "Settings",
    "UserInputError",
    "Workflow",
    "build_graph",
    "load_workflow",
    "resume_run",
    "run",
    "start_run",
]

_HOMES = {
    "Plan": "madagents.state",
    "RunFailedError": "madagents.errors",
    "RunResult": "madagents.results",
    "RunState": "madagents.state",
    "Settings": "madagents.settings",
    "UserInputError": "madagents.errors",
    "Workflow": "madagents.workflow",
    "build_graph": "madagents.graph",
    "load_workflow": "madagents.workflow",
    "resume_run": "madagents.runner",
    "run": "madagents.api",
    "start_run": "madagents.runner",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        msg = f"module 'madagents' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return __all__
