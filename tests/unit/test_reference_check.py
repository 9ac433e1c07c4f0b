"""checks.reference: a workflow names a paper's table; the plan carries it and the reviewer's gate says whether the
run agrees (χ²/ndf, p)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hist
import hist.serialization
import numpy as np
import pytest
import uhi.io.json
import yaml
from langchain_core.messages import AIMessage, BaseMessage

from madagents.agents.planner import plan_workflow
from madagents.agents.task_planner import choose_workflow
from madagents.compare.reference_gate import gate_reference
from madagents.context import RunContext
from madagents.errors import UserInputError
from madagents.rundir import RunDir
from madagents.sandbox import LocalSandbox
from madagents.settings import Settings
from madagents.state import RunState, Task
from madagents.workflow import load_workflow
from madagents_tools.analysis import analyze
from tests.conftest import WorkflowWriter
from tests.replay.scripted import ScriptedClient, call, reply, tool_answers

EVENTS, SIGMA = 4000, 1500.0


def _masses(seed: int, mass: float = 91.0) -> np.typing.NDArray[np.float64]:
    return mass + 2.5 * np.random.default_rng(seed).standard_cauchy(EVENTS)


def _table(path: Path, *, seed: int, bins: int = 60, mass: float = 91.0) -> Path:
    """A 'paper' table in pb/GeV from an independent sample."""
    counts, edges = np.histogram(_masses(seed, mass), bins=bins, range=(60, 120))
    scale = SIGMA / EVENTS / np.diff(edges)
    histogram = {
        "edges": edges.tolist(),
        "values": (counts * scale).tolist(),
        "errors": (np.sqrt(np.maximum(counts, 1)) * scale).tolist(),
        "units": "pb/GeV",
    }
    path.write_text(yaml.safe_dump({"histograms": {"m_ll": histogram}}))
    return path


def _checks(table: Path) -> dict[str, object]:
    return {"reference": {"file": str(table), "histograms": {"m_mumu": "m_ll"}}}


def _run(where: Path, seed: int) -> analyze.Result:
    histogram = hist.Hist(hist.axis.Regular(60, 60, 120, name="m_mumu"), storage=hist.storage.Weight())
    histogram.fill(_masses(seed))
    (where / "hists").mkdir(parents=True)
    text = json.dumps(hist.serialization.to_uhi(histogram), default=uhi.io.json.default)
    (where / "hists" / "m_mumu.json").write_text(text)
    record = analyze.HistogramRecord(
        name="m_mumu",
        json_path="hists/m_mumu.json",
        png_path="hists/m_mumu.png",
        observable="mass(muons[0], muons[1])",
        bins=60,
        range=(60, 120),
        entries=float(histogram.sum(flow=True).value),
        legend="",
    )
    return analyze.Result(ok=True, sigma_pb=SIGMA, sigma_err_pb=15.0, n_generated=EVENTS, histograms=[record])


def test_the_plan_carries_the_paper_and_the_gate_says_whether_the_run_agrees(
    tmp_path: Path, write_workflow: WorkflowWriter
) -> None:
    workflow = load_workflow(write_workflow(checks=_checks(_table(tmp_path / "paper.yaml", seed=7))))
    reference = plan_workflow(workflow).expectations.reference
    assert reference is not None
    assert (reference.mode, len(reference.histograms[0].values)) == ("shape", 60)
    analysis = _run(tmp_path / "run", seed=8)
    (agrees,) = gate_reference(tmp_path / "run", reference, analysis)
    assert agrees.passed, agrees.message
    assert agrees.message.startswith("agrees with m_ll of")
    moved_table = _table(tmp_path / "moved_paper.yaml", seed=7, mass=94.0)
    moved = plan_workflow(load_workflow(write_workflow("moved.yaml", checks=_checks(moved_table)))).expectations
    assert moved.reference is not None
    (disagrees,) = gate_reference(tmp_path / "run", moved.reference, analysis)
    assert not disagrees.passed
    assert "disagrees with m_ll" in disagrees.message
    assert "χ²/ndf = " in disagrees.message


def test_a_paper_with_other_bins_is_an_input_error(tmp_path: Path, write_workflow: WorkflowWriter) -> None:
    table = _table(tmp_path / "paper.yaml", seed=7, bins=30)
    with pytest.raises(UserInputError, match=r"m_mumu has 60 bins over \[60.0, 120.0\] but m_ll .* has 30"):
        load_workflow(write_workflow(checks=_checks(table)))


def test_a_planned_task_names_its_reference_beside_the_task_file(
    tmp_path: Path, drell_yan_data: dict[str, object]
) -> None:
    """Scripted planner turns: the schema the model sees has checks.reference, and the file it names as the task
    does (relative) is read from the task's folder, wherever the command runs."""
    task_dir = tmp_path / "paper"
    task_dir.mkdir()
    _table(task_dir / "mll.yaml", seed=7)
    seen: list[str] = []

    def script(role: str, messages: Sequence[BaseMessage]) -> AIMessage:
        assert role == "planner"
        if tool_answers(messages):
            return reply(text="Submitted.")
        workflow = {
            **drell_yan_data,
            "seed": 5,
            "checks": {"reference": {"file": "mll.yaml", "histograms": {"m_mumu": "m_ll"}}},
        }
        return reply(call("submit_workflow", workflow))

    class Watching(ScriptedClient):
        def complete(
            self, *, role: str, messages: Sequence[BaseMessage], tools: Any, on_token: Any = None
        ) -> AIMessage:
            seen.append(json.dumps(tools))
            return super().complete(role=role, messages=messages, tools=tools, on_token=on_token)

    ctx = RunContext(
        Settings(), RunDir.create(tmp_path / "run"), LocalSandbox(tmp_path), ["test"], models=Watching(script)
    )
    task = Task(text="Reproduce the m_ll spectrum of the paper (table mll.yaml).", seed=5, folder=str(task_dir))
    planning = choose_workflow(ctx, RunState(task=task), task)
    assert planning.error is None
    assert planning.workflow is not None
    assert planning.workflow.checks.reference is not None
    assert planning.workflow.checks.reference.file == str(task_dir / "mll.yaml")
    assert '"reference"' in seen[0]
    assert "HEPData table" in seen[0]  # ReferenceCheck.file's description
