"""A chat session open in the server: the tutor answers in a thread of its own and every step becomes an event.

The events are kept, so a page that reconnects (or a second tab) sees the whole session, and a run goes on when
its tab closes. An event with a ``key`` replaces the earlier one with that key (an answer growing word by word, a
tool call that finished, a progress bar), so the log stays as long as the conversation, not as its tokens.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from madagents import runlock
from madagents.agents.loop import ToolCallEvent
from madagents.chat import ChatContext, ChatSession, ChatState, new_session_info, open_session_dir
from madagents.errors import RunFailedError, UserInputError
from madagents.llm.budget import BudgetExceededError
from madagents.llm.cassette import ReplayMismatchError
from madagents.llm.client import ModelAccessError, ModelClient, TokenCallback, ToolSchema
from madagents.rundir import RunDir, tool_time
from madagents.safe_files import read_text
from madagents.settings import Settings
from madagents.web.render import to_html
from madagents.workflow import Workflow

__all__ = ["EventLog", "LiveSession"]

RENDER_EVERY_S = 0.08
"""A streamed answer is re-rendered at most this often; the rest of its words arrive with the next render."""
RUN_NAME = re.compile(r"\bruns/\d+-[\w.+-]+")
"""How the tutor's run tool names the run it made (chat.py: "run runs/01-x succeeded", "the run in runs/01-x …")."""
MAX_PLOTS = 24


class EventLog:
    """The events of one session, numbered; thread-safe (the tutor's thread writes, the server's streams read)."""

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._seq = 0
        self._lock = threading.Lock()

    def emit(self, kind: str, key: str | None = None, **data: Any) -> None:
        with self._lock:
            self._seq += 1
            if key is not None:
                self._events = [event for event in self._events if event.get("key") != key]
            self._events.append({"seq": self._seq, "type": kind, "key": key, **data})

    def since(self, seq: int) -> list[dict[str, Any]]:
        with self._lock:
            return [event for event in self._events if event["seq"] > seq]


class CountingClient:
    """The session's model client, counting tokens and dollars as each turn returns (the cost shown live)."""

    def __init__(self, inner: ModelClient, settings: Settings, on_turn: Callable[[int, float], None]) -> None:
        self.inner = inner
        self.settings = settings
        self.on_turn = on_turn

    def model_name(self, role: str) -> str:
        return self.inner.model_name(role)

    def complete(
        self,
        *,
        role: str,
        messages: Sequence[BaseMessage],
        tools: Sequence[ToolSchema],
        on_token: TokenCallback | None = None,
    ) -> AIMessage:
        reply = self.inner.complete(role=role, messages=messages, tools=tools, on_token=on_token)
        usage = reply.usage_metadata or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        dollars = self.settings.llm.cost(self.model_name(role), usage["input_tokens"], usage["output_tokens"])
        self.on_turn(usage["input_tokens"] + usage["output_tokens"], dollars)
        return reply


class LiveSession:
    """A chat session directory held by this server (its lock taken), with its event log and its tutor thread."""

    def __init__(self, path: Path, settings: Settings, client: ModelClient, *, resume: bool) -> None:
        self.path = path
        self.id = path.name
        self.settings = settings
        self.log = EventLog()
        self._stack = contextlib.ExitStack()
        session = open_session_dir(path) if resume else RunDir.create(path)
        self._stack.enter_context(runlock.holding(path, [*sys.argv, "(web session)"]))
        if not resume:
            session.write_model("run.json", new_session_info(sys.argv))
        self._busy = threading.Lock()
        self._answers: queue.Queue[bool] = queue.Queue()
        self._waiting_for: str | None = None
        self._asking = threading.Lock()
        self._answer_key: str | None = None
        self._answer_text = ""
        self._rendered_at = 0.0
        self._counter = 0
        self._tool: ToolCallEvent | None = None
        self._last_finished: ToolCallEvent | None = None
        self._workflow: Workflow | None = None
        self._tokens, self._dollars = 0, 0.0
        context = ChatContext(
            settings=settings,
            session=session,
            models=CountingClient(client, settings, self._count),
            reporter=self,
            confirm=self._confirm,
            on_token=self._token,
            on_tool=self._on_tool,
            command_line=[*sys.argv, "(web session)"],
        )
        self.chat = ChatSession(context)
        try:
            self._show_history(self.chat.state() if resume else ChatState())
        except BaseException:  # a damaged checkpoint: the session is not open, so its lock goes too
            self._stack.close()
            raise

    def close(self) -> None:
        self._stack.close()

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    # --- what the page asks ------------------------------------------------------------------------------------

    def say(self, text: str) -> bool:
        """Start a turn in a thread of its own; False if the tutor is still busy with the last one."""
        if not self._busy.acquire(blocking=False):
            return False
        self.log.emit("user", text=text)
        self.log.emit("busy", key="busy", busy=True)
        threading.Thread(target=self._turn, args=(text,), name=f"chat {self.id}", daemon=True).start()
        return True

    def answer(self, yes: bool) -> bool:
        """The student's answer to the open confirmation; False if none is open."""
        with self._asking:  # two tabs may press Run at once: one answer per question
            if self._waiting_for is None:
                return False
            self._waiting_for = None
        self._answers.put(yes)
        return True

    # --- the tutor's thread ------------------------------------------------------------------------------------

    def _turn(self, text: str) -> None:
        try:
            self.chat.say(text)
        except (ModelAccessError, ReplayMismatchError, BudgetExceededError, RunFailedError, UserInputError) as exc:
            self.log.emit("error", text=_error_text(exc))
        except Exception as exc:  # the thread must not die silently: the page shows what broke
            self.log.emit("error", text=f"internal error: {type(exc).__name__}: {exc}")
            raise
        finally:
            self._end_answer()
            self._tool = None
            self._emit_panel()
            self.log.emit("busy", key="busy", busy=False)
            self._busy.release()

    def _next(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter}"

    def _token(self, text: str) -> None:
        if self._answer_key is None:
            self._answer_key, self._answer_text = self._next("answer"), ""
        self._answer_text += text
        if time.monotonic() - self._rendered_at >= RENDER_EVERY_S:
            self._render_answer(done=False)

    def _render_answer(self, *, done: bool) -> None:
        self._rendered_at = time.monotonic()
        self.log.emit("answer", key=self._answer_key, html=to_html(self._answer_text, breaks=True), done=done)

    def _end_answer(self) -> None:
        """The answer is complete, or a tool call or a run interrupts it: what comes next goes below it."""
        if self._answer_key is not None:
            self._render_answer(done=True)
        self._answer_key = None

    def _on_tool(self, event: ToolCallEvent) -> None:
        self._end_answer()
        self._emit_tool(event)
        if event.answer is None:
            self._tool = event
            return
        self._tool, self._last_finished = None, event
        if event.name == "propose_workflow" and event.ok:
            self._workflow = Workflow.model_validate(event.args)
        if event.name == "run_workflow":
            self._emit_plots(event)
        self._emit_panel()

    def _emit_tool(self, event: ToolCallEvent) -> None:
        self.log.emit(
            "tool",
            key=f"tool-{event.call_id}",
            name=event.name,
            args=json.dumps(event.args, indent=1, ensure_ascii=False),
            answer=event.answer,
            ok=event.ok,
        )

    def _emit_plots(self, event: ToolCallEvent) -> None:
        found = RUN_NAME.search(event.answer or "")
        hists = self.path / found.group(0) / "hists" if found else None
        if found is None or hists is None or not hists.is_dir() or hists.is_symlink():
            return
        plots = sorted(p.relative_to(self.path).as_posix() for p in hists.rglob("*.png") if not p.is_symlink())
        if plots:
            self.log.emit("plots", key=f"plots-{event.call_id}", run=found.group(0), files=plots[:MAX_PLOTS])

    def _confirm(self, question: str) -> bool:
        self._end_answer()
        key = self._next("confirm")
        with self._asking:
            self._waiting_for = key
        self.log.emit("confirm", key=key, question=question, state="waiting")
        yes = self._answers.get()  # a closed tab leaves the question open until a page answers it
        self.log.emit("confirm", key=key, question=question, state="yes" if yes else "no")
        return yes

    def _count(self, tokens: int, dollars: float) -> None:
        self._tokens += tokens
        self._dollars += dollars
        self._emit_cost()

    def _emit_cost(self) -> None:
        used = tool_time(self.path)
        self.log.emit(
            "cost",
            key="cost",
            tokens=self._tokens,
            dollars=self._dollars,
            tool_seconds=used.wall_seconds,
            tool_cpu_seconds=used.cpu_seconds,
        )

    def _emit_panel(self) -> None:
        """The side panel: the proposed workflow, the latest run's assumptions, the runs, the cost."""
        runs = []
        runs_dir = self.path / "runs"
        for run in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
            if run.is_dir() and not run.is_symlink() and (run / "run.json").is_file():
                with contextlib.suppress(OSError, ValueError):
                    status = RunDir(run).status()
                    runs.append({"name": f"runs/{run.name}", "state": status.state, "error": status.error})
        workflow = (
            yaml.safe_dump(
                self._workflow.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True
            )
            if self._workflow
            else None
        )
        self.log.emit(
            "panel",
            key="panel",
            workflow=workflow,
            workflow_name=self._workflow.name if self._workflow else None,
            assumptions=self._assumptions(runs),
            runs=runs,
        )
        self._emit_cost()

    def _assumptions(self, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for run in reversed(runs):
            if (self.path / run["name"] / "assumptions.yaml").is_file():
                with contextlib.suppress(OSError, ValueError, yaml.YAMLError):
                    entries = yaml.safe_load(read_text(self.path, f"{run['name']}/assumptions.yaml")) or []
                    return [
                        {key: str(entry.get(key, "")) for key in ("topic", "choice", "source", "reason")}
                        for entry in entries
                        if isinstance(entry, dict)
                    ]
        return []

    # --- the runs' progress (the Reporter protocol), shown inside the tool call that started the run ----------

    def _parent(self) -> str | None:
        return self._tool.call_id if self._tool else None

    def node_started(self, node: str) -> None:
        self._end_answer()
        self.log.emit("node", key=f"node-{self._parent()}-{node}", node=node, state="running", parent=self._parent())

    def node_finished(self, node: str, seconds: float, error: str | None) -> None:
        self._end_answer()
        self.log.emit(
            "node",
            key=f"node-{self._parent()}-{node}",
            node=node,
            state="failed" if error else "done",
            seconds=round(seconds, 1),
            error=error,
            parent=self._parent(),
        )
        self._emit_panel()

    def progress(self, task: str, done: int, total: int) -> None:
        self.log.emit(
            "progress",
            key=f"progress-{self._parent()}-{task}",
            task=task,
            done=done,
            total=total,
            parent=self._parent(),
        )

    def note(self, text: str) -> None:
        finished = self._last_finished
        if finished is not None and text.startswith(f"{finished.role} → {finished.name}:"):
            self._last_finished = None  # the tool call itself is on the page already
            return
        self._end_answer()
        self.log.emit("note", text=text, parent=self._parent())

    def _show_history(self, state: ChatState) -> None:
        """A resumed session shows its conversation as it was: questions, answers, tool calls, plots."""
        self._workflow = state.workflow
        self._tokens, self._dollars = state.spend.tokens, state.spend.dollars
        calls: dict[str, ToolCallEvent] = {}
        for message in state.messages:
            if isinstance(message, HumanMessage):
                self.log.emit("user", text=message.text)
            elif isinstance(message, AIMessage):
                if message.text.strip():
                    self.log.emit(
                        "answer", key=self._next("answer"), html=to_html(message.text, breaks=True), done=True
                    )
                for call in message.tool_calls:
                    event = ToolCallEvent(call["id"] or call["name"], "tutor", call["name"], call["args"])
                    calls[event.call_id] = event
                    self._emit_tool(event)
            elif isinstance(message, ToolMessage) and message.tool_call_id in calls:
                answer = message.text
                finished = calls[message.tool_call_id]
                finished = ToolCallEvent(
                    finished.call_id, "tutor", finished.name, finished.args, answer, not answer.startswith("Error:")
                )
                self._emit_tool(finished)
                if finished.name == "run_workflow":
                    self._emit_plots(finished)
        self._emit_panel()
        self.log.emit("busy", key="busy", busy=False)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ReplayMismatchError):
        return (
            "this server replays a recorded chat, and this session left it (another question, or Cancel where the "
            "recording ran): start a new chat, ask what the page suggests and press Run"
        )
    return str(exc)
