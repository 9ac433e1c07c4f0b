"""``madagents chat``: a student talks with the tutor, which proposes workflows and runs them when asked.

Each student turn is one step of a small checkpointed graph, so ``--resume`` continues a killed session.
Runs are made by the deterministic graph, inside the session directory, after a cost estimate the student confirms.
"""

from __future__ import annotations

import contextlib
import json
import operator
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from madagents.agents.loop import AgentTool, ToolCallback, ToolInputError, run_agent
from madagents.context import Reporter
from madagents.errors import RunFailedError, UserInputError
from madagents.llm.budget import Spend
from madagents.llm.client import ModelAccessError, ModelClient, TokenCallback
from madagents.prompts import load_prompt
from madagents.rundir import RunDir, RunInfo, tool_time
from madagents.runner import Driver, checkpoint_serializer, start_run
from madagents.settings import Settings
from madagents.state import RunState, typed_results
from madagents.workflow import Workflow
from madagents_tools.analysis import analyze
from madagents_tools.generation import pythia8_generate

__all__ = ["CHAT_SESSION", "SLASH_COMMANDS", "ChatSession", "ChatState", "new_session_info", "open_session_dir"]

SLASH_COMMANDS = {
    "/plan": "show the proposed workflow",
    "/runs": "list this session's runs",
    "/cost": "tokens, $ and the tools' CPU time so far",
    "/quit": "leave (resume later with --resume)",
}
ASK_ABOVE_SECONDS = 30
OUT_OF_TURNS = "(The tutor stopped after"
"""How the note starts that replaces an answer the tutor never gave; replays look for it (a failed session)."""
CHECKPOINTS = "chat.sqlite"
CHAT_SESSION = "chat"
"""The ``workflow`` name in run.json of a chat session directory."""


class RunArgs(BaseModel):
    events: int | None = Field(default=None, gt=0, description="Override the proposed number of events.")


class NoArgs(BaseModel):
    pass


class ChatState(BaseModel):
    messages: Annotated[list[AnyMessage], add_messages] = Field(default_factory=list)
    workflow: Workflow | None = None
    """The last workflow the tutor proposed."""
    runs: Annotated[list[str], operator.add] = Field(default_factory=list)
    """Run directories made in this session, relative to it."""
    spend: Annotated[Spend, operator.add] = Field(default_factory=Spend)
    """What the tutor spent; each turn adds its own."""


@dataclass(slots=True)
class ChatContext:
    settings: Settings
    session: RunDir
    models: ModelClient
    reporter: Reporter
    confirm: Callable[[str], bool]
    on_token: TokenCallback | None = None
    on_tool: ToolCallback | None = None
    command_line: list[str] = field(default_factory=list)

    @property
    def rundir(self) -> RunDir:
        """The session directory: the tutor's turns go to its trace.jsonl."""
        return self.session


def _list_processes(_: NoArgs) -> str:
    from madagents.processes import catalogue_summaries  # noqa: PLC0415 - loads Pythia8's databases

    return json.dumps([summary.model_dump(mode="json") for summary in catalogue_summaries()], ensure_ascii=False)


LIST_PROCESSES = AgentTool(
    "list_processes",
    "The process catalogue (as `madagents processes --json`): names, final states, parameters.",
    NoArgs,
    _list_processes,
)


def tutor(state: ChatState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
    """One student turn: the tutor answers, proposing and running workflows through its tools."""
    chat = runtime.context
    proposal: list[Workflow] = [state.workflow] if state.workflow else []
    made: list[str] = []

    def propose(workflow: Workflow) -> str:
        proposal.append(workflow)
        chat.session.write_text(
            f"workflows/{workflow.name}.yaml", yaml.safe_dump(workflow.model_dump(mode="json"), sort_keys=False)
        )
        return f"workflow {workflow.name} is valid ({workflow.events} events); saved as workflows/{workflow.name}.yaml"

    def run(args: RunArgs) -> str:
        if not proposal:
            msg = "propose a workflow first (propose_workflow)"
            raise ToolInputError(msg)
        workflow = proposal[-1] if args.events is None else proposal[-1].model_copy(update={"events": args.events})
        name = f"runs/{len(state.runs) + len(made) + 1:02d}-{workflow.name}"
        driver = Driver(reporter=chat.reporter, confirm=chat.confirm)
        made.append(name)
        try:
            result = start_run(workflow, chat.session.path / name, chat.settings, chat.command_line, driver)
        except (RunFailedError, UserInputError) as exc:
            msg = f"the run in {name} failed: {exc}"
            raise ToolInputError(msg) from None
        return _run_summary(name, result)

    def list_runs(_: NoArgs) -> str:
        states = [f"{name}: {RunDir.open(chat.session.path / name).status().state}" for name in [*state.runs, *made]]
        return "\n".join(states) or "no runs yet"

    tools = [
        AgentTool("propose_workflow", "Propose a workflow (validated) for the student's request.", Workflow, propose),
        AgentTool(
            "run_workflow", "Run the proposed workflow; the student is asked first if it is expensive.", RunArgs, run
        ),
        AgentTool("list_runs", "List the runs of this session.", NoArgs, list_runs),
        LIST_PROCESSES,
    ]
    system = SystemMessage(content=load_prompt("tutor", ask_above_seconds=ASK_ABOVE_SECONDS, level="student"))
    outcome = run_agent(
        chat, "tutor", [system, *state.messages], tools, state.spend, on_token=chat.on_token, on_tool=chat.on_tool
    )
    new_messages = outcome.messages[1 + len(state.messages) :]
    if outcome.out_of_turns:
        stopped = (
            f"{OUT_OF_TURNS} {chat.settings.llm.max_agent_turns} tool calls without an answer; "
            "ask again, perhaps more specifically.)"
        )
        chat.reporter.note(stopped)
        new_messages.append(AIMessage(content=stopped))
    return {
        "messages": new_messages,
        "workflow": proposal[-1] if proposal else None,
        "runs": made,
        "spend": outcome.spend,
    }


def _run_summary(name: str, state: RunState) -> str:
    if state.verdict is None:  # start_run raises before this can happen
        return f"run {name} ended without results"
    lines = [f"run {name} succeeded"]
    for step, generation in typed_results(state.plan, state.results, pythia8_generate.Result):
        lines.append(
            f"{step.id}: σ = {generation.sigma_pb:.4g} ± {generation.sigma_err_pb:.2g} pb, {generation.n_events} events"
        )
    for step, analysis in typed_results(state.plan, state.results, analyze.Result):
        lines.append(f"{step.id}: {analysis.n_selected} events selected")
        lines += [
            f"histogram {record.name}: {record.png_path} (highest bin at {record.peak})"
            for record in analysis.histograms
        ]
    verdict = state.verdict
    lines.append(f"physics gates: {verdict.tally()}")
    return "\n".join(lines)


class ChatSession:
    """A chat session directory with its checkpointed conversation."""

    def __init__(self, context: ChatContext) -> None:
        self.context = context
        self.config: Any = {"configurable": {"thread_id": context.session.run_id}, "recursion_limit": 10}

    @staticmethod
    def new_dir(settings: Settings) -> Path:
        return settings.runs_dir / f"chat-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"

    @contextlib.contextmanager
    def graph(self) -> Iterator[Any]:
        with contextlib.closing(
            sqlite3.connect(self.context.session.file(CHECKPOINTS), check_same_thread=False)
        ) as connection:
            graph = StateGraph(ChatState, context_schema=ChatContext)
            graph.add_node("tutor", tutor)
            graph.add_edge(START, "tutor")
            graph.add_edge("tutor", END)
            yield graph.compile(checkpointer=SqliteSaver(connection, serde=checkpoint_serializer(ChatState)))

    def say(self, text: str) -> ChatState:
        with self.graph() as graph:
            graph.invoke(
                {"messages": [HumanMessage(content=text)]}, self.config, context=self.context, durability="sync"
            )
            return ChatState.model_validate(graph.get_state(self.config).values)

    def state(self) -> ChatState:
        with self.graph() as graph:
            values = graph.get_state(self.config).values
            return ChatState.model_validate(values) if values else ChatState()


def new_session_info(command_line: list[str]) -> RunInfo:
    """run.json of a new chat session: its identity (the checkpoint thread) is stored inside, so it can move."""
    started = datetime.now(UTC)
    return RunInfo(
        run_id=f"chat-{started.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}",
        workflow=CHAT_SESSION,
        sandbox="none",
        command_line=command_line,
        started=started.isoformat(timespec="seconds"),
    )


def open_session_dir(path: Path) -> RunDir:
    """An existing chat session directory, to resume."""
    if not (path / "run.json").is_file():
        msg = (
            f"{path} is not a chat session (no run.json); give the directory `madagents chat` printed when it started "
            "and ended (runs/chat-YYYYmmdd-HHMMSS), or its name under MADAGENTS_RUNS_DIR"
        )
        raise UserInputError(msg)
    session = RunDir.open(path)
    if session.info().workflow != CHAT_SESSION:
        msg = f"{path} is a run directory, not a chat session; continue it with `madagents run --resume`"
        raise UserInputError(msg)
    return session


def chat_loop(session: ChatSession, read_input: Callable[[], str | None], show: Callable[[str], None]) -> None:
    """Read student lines until /quit or the end of input; slash commands are answered without the model."""
    while (line := read_input()) is not None:
        text = line.strip()
        if not text:
            continue
        if text == "/quit":
            return
        if text.startswith("/"):
            show(_slash(session, text))
            continue
        try:
            session.say(text)
        except ModelAccessError as exc:  # the session stays usable: the student may try again or /quit
            show(f"error: {exc}; then ask again, or /quit (the session is kept)")
            continue
        show("")  # ends the streamed answer, a blank line before the next prompt


def _slash(session: ChatSession, command: str) -> str:
    state = session.state()
    if command == "/plan":
        if state.workflow is None:
            return "no workflow proposed yet"
        return yaml.safe_dump(state.workflow.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    if command == "/runs":  # the tutor names runs inside the session; the student needs the paths from here
        return "\n".join(str(session.context.session.path / name) for name in state.runs) or "no runs yet"
    if command == "/cost":
        spend, used = state.spend, tool_time(session.context.session.path)
        return (
            f"{spend.tokens} tokens, ${spend.dollars:.4f}, {spend.tool_rounds} tool rounds; "
            f"≥ {used.cpu_seconds:.1f} s CPU in sandboxed tools ({used.wall_seconds:.1f} s wall)"
        )
    return "commands: " + ", ".join(f"{name} ({what})" for name, what in SLASH_COMMANDS.items())
