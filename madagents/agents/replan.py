"""A plan the reviewer sent back: what the planner changed (for the assumptions log), and the old plan's outputs.

The run directory holds the outputs of its final plan only, so a re-plan removes what the old plan's steps wrote
(their step directories and output directories); why the old plan was rejected stays in reviews/ and the report.
"""

from __future__ import annotations

import shutil
from typing import Any

from madagents.rundir import RunDir
from madagents.state import Assumption, AssumptionSource, Plan, SendBack
from madagents.toolcall import writable_dirs
from madagents.workflow import Workflow

__all__ = ["discard_outputs", "replan_assumption", "workflow_changes"]

MAX_CHANGES = 8
MAX_VALUE_CHARS = 80


def workflow_changes(before: Workflow, after: Workflow) -> list[str]:
    """Each field that differs, as ``path: old → new`` (lists of the same length compared item by item)."""
    return _changes(before.model_dump(mode="json"), after.model_dump(mode="json"), "")


def _changes(before: Any, after: Any, path: str) -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            change
            for key in [*before, *(key for key in after if key not in before)]
            for change in _changes(before.get(key), after.get(key), f"{path}.{key}" if path else key)
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            change
            for i, pair in enumerate(zip(before, after, strict=True))
            for change in _changes(*pair, f"{path}[{i}]")
        ]
    return [] if before == after else [f"{path}: {_short(before)} → {_short(after)}"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def replan_assumption(review_round: int, back: SendBack, before: Workflow, after: Workflow) -> Assumption:
    changes = workflow_changes(before, after)
    shown = changes[:MAX_CHANGES] + ([f"and {len(changes) - MAX_CHANGES} more"] if len(changes) > MAX_CHANGES else [])
    return Assumption(
        topic=f"Re-plan after review round {review_round}",
        choice="; ".join(shown) or "the same workflow, submitted again",
        source=AssumptionSource.AGENT,
        reason=f"the reviewer sent the plan back: {'; '.join(back.reasons)}",
        affects=["all outputs"],
    )


def discard_outputs(rundir: RunDir, plan: Plan) -> None:
    """Remove the step directories and output directories of ``plan``'s steps (a rejected plan's outputs)."""
    for step in plan.steps:
        step_dir = f"steps/{step.id}"
        try:
            directories = writable_dirs(step.request, step_dir)
        except ValueError:  # a request that never ran: it would have written into the host's files
            directories = [step_dir]
        for directory in [*directories, f"{step_dir}-pilot"]:
            path = rundir.file(directory)
            if path.is_symlink():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
