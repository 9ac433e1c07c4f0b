"""A node's time is its work: the wait for the user's answer is traced apart and spends no budget."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from madagents.agents.steps import traced
from madagents.context import NullReporter, RunContext
from madagents.rundir import RunDir
from madagents.sandbox import LocalSandbox
from madagents.settings import Settings
from madagents.state import RunState

ANSWER_S = 1.0
WORK_S = 0.3


class Timings(NullReporter):
    def __init__(self) -> None:
        self.finished: dict[str, float] = {}

    def node_finished(self, node: str, seconds: float, error: str | None) -> None:  # noqa: ARG002
        self.finished[node] = seconds


def slow_answer(question: str) -> bool:
    time.sleep(ANSWER_S)  # a student reading the estimate
    return True


def asking(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
    assert runtime.context.ask("Generate 1000 events?") is True
    return {}


def working(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
    time.sleep(WORK_S)
    return {}


def test_the_wait_for_an_answer_is_neither_the_nodes_time_nor_its_spend_even_beside_a_parallel_node(
    tmp_path: Path,
) -> None:
    reporter = Timings()
    ctx = RunContext(Settings(), RunDir(tmp_path), LocalSandbox(tmp_path), ["test"], reporter, confirm=slow_answer)
    runtime = Runtime(context=ctx)
    updates: dict[str, dict[str, Any]] = {}
    nodes = {"generator": traced("generator", asking), "analyst": traced("analyst", working)}
    threads = [
        threading.Thread(target=lambda name=name: updates.update({name: nodes[name](RunState(), runtime=runtime)}))
        for name in nodes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ended = {e.node: e for e in ctx.rundir.trace_events() if e.event == "node_end"}
    assert ended["generator"].waited_s is not None
    assert ended["generator"].waited_s >= ANSWER_S
    assert ended["generator"].seconds is not None
    assert ended["generator"].seconds < ANSWER_S / 2
    assert reporter.finished["generator"] == ended["generator"].seconds
    assert updates["generator"]["spend"].seconds == ended["generator"].seconds
    # the other thread's node waited for nobody, though it ran while the question was open
    assert ended["analyst"].waited_s is None
    assert ended["analyst"].seconds is not None
    assert ended["analyst"].seconds >= WORK_S


def test_an_autonomous_run_cannot_ask(tmp_path: Path) -> None:
    ctx = RunContext(Settings(), RunDir(tmp_path), LocalSandbox(tmp_path), ["test"])
    assert ctx.ask("Generate 1000 events?") is None
    assert ctx.waited_s() == 0.0
