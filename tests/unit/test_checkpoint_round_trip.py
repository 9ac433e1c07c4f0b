"""Every shipped workflow and its plan come back from a checkpoint as they went in.

LangGraph's serializer rebuilds a pydantic model with ``cls(**data)`` and, when that raises, falls back to
``model_construct`` without a word: nested models stay dicts, and the run fails only when its final state is read.
A validator that rejects what the model itself dumped (one reading ``model_fields_set``, say) does exactly that.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from madagents.agents.planner import plan_workflow
from madagents.runner import checkpoint_serializer
from madagents.state import RunState
from madagents.workflow import Workflow, load_any_workflow
from tests.conftest import REPO

WORKFLOWS = sorted((REPO / "workflows").glob("*.yaml"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.stem for path in WORKFLOWS])
def test_a_run_state_survives_its_checkpoint(path: Path) -> None:
    workflow = load_any_workflow(path)
    state = RunState(workflow=workflow, plan=plan_workflow(workflow) if isinstance(workflow, Workflow) else None)
    serializer = checkpoint_serializer()
    reloaded = serializer.loads_typed(serializer.dumps_typed(state))
    assert reloaded == state
    assert RunState.model_validate(reloaded.model_dump()) == state
