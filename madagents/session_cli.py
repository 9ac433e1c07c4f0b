"""What the model-driven commands do (reproduce, replay, chat), kept out of cli.py so each command stays short."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import ValidationError
from rich.console import Console

from madagents import runlock
from madagents.chat import ChatContext, ChatSession, chat_loop, new_session_info, open_session_dir
from madagents.chat_terminal import find_session, greeting, input_reader, parting, session_line, yes_no_question
from madagents.console import AnswerFirst, AnswerStream
from madagents.context import Reporter
from madagents.errors import RunFailedError, UserInputError
from madagents.llm.cassette import Cassette, RecordingClient, ReplayClient, ReplayMismatchError
from madagents.llm.client import ModelAccessError, ModelClient, TokenCallback, ToolSchema, make_client
from madagents.rundir import RunDir
from madagents.runner import Driver, default_run_dir, start_run
from madagents.sandbox import SandboxUnavailableError, resolve_backend
from madagents.sessions import read_task, record_cassette, replay_session, task_seed
from madagents.settings import Settings
from madagents.state import RunState, Task

__all__ = ["drive_chat", "load_cassette", "run_chat", "run_replay", "run_reproduce"]

YES = {"y", "yes"}


def run_reproduce(
    task_file: Path,
    out: Path | None,
    settings: Settings,
    seed: int | None,
    max_events: int | None,
    record: Path | None,
    reporter: Reporter,
) -> tuple[RunState, Path]:
    text = read_task(task_file)
    task = Task(text=text, seed=seed or task_seed(text), max_events=max_events, folder=str(task_file.parent.resolve()))
    client = make_client(settings.llm)
    recorder = RecordingClient(client) if record else None
    run_dir = out or default_run_dir(settings, "task")
    try:
        return start_run(
            task, run_dir, settings, sys.argv, Driver(reporter=reporter, models=recorder or client)
        ), run_dir
    finally:
        if record and recorder and run_dir.is_dir():
            header = Cassette(
                source="recorded",
                model=client.model_name("planner"),
                entry="reproduce",
                task=text,
                seed=task.seed,
                max_events=max_events,
                backend=_recorded_backend(settings),
            )
            record_cassette(record, recorder, header, [run_dir])


def _recorded_backend(settings: Settings) -> Literal["local", "docker", "dask"]:
    try:
        backend = resolve_backend(settings.sandbox)
    except SandboxUnavailableError:
        backend = settings.sandbox
    return "docker" if backend == "docker" else "dask" if backend == "dask" else "local"


def run_replay(
    cassette_path: Path,
    out: Path | None,
    settings: Settings,
    reporter: Reporter,
    console: Console,
    requested: str | None = None,
    *,
    exact: bool = False,
) -> list[str]:
    """Replay on the backend the cassette was recorded on: the installer's turns saw that sandbox.

    ``requested`` (``--sandbox``) must be that backend or absent.
    """
    cassette = load_cassette(cassette_path)
    if requested is not None and requested != cassette.backend:
        msg = (
            f"{cassette_path} was recorded on the {cassette.backend} sandbox and replays there (the model's turns "
            f"answered what that sandbox showed); drop --sandbox {requested} or give --sandbox {cassette.backend}"
        )
        raise UserInputError(msg)
    settings = settings.model_copy(update={"sandbox": cassette.backend})
    out = out or settings.runs_dir / f"replay-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        msg = f"--out {out} exists and is not an empty directory; give a new directory for the replay"
        raise UserInputError(msg)

    def run_session(recorded: Cassette, client: ModelClient, where: Path) -> list[Path]:
        if recorded.entry == "reproduce":
            return [_replay_reproduce(recorded, client, where / "run", settings, reporter)]
        inputs = iter(recorded.user_inputs)
        return drive_chat(where, client, settings, reporter, console, lambda: next(inputs, None))

    try:
        differences = replay_session(cassette, out, run_session, exact=exact)
    except ReplayMismatchError as exc:
        return [f"model turn mismatch: {exc}"]
    if not differences and cassette.expected_failure:
        console.print(f"the session failed as the cassette expects: {cassette.expected_failure}", markup=False)
    return differences


def load_cassette(path: Path) -> Cassette:
    try:
        return Cassette.load(path)
    except OSError as exc:
        msg = f"cannot read cassette {path}: {exc.strerror or exc}; give a file written by --record"
        raise UserInputError(msg) from None
    except ValidationError as exc:  # JSON that is not a cassette, or no JSON at all
        first = exc.errors()[0]
        why = f"{'.'.join(str(part) for part in first['loc']) or 'the file'}: {first['msg']}"
    except ValueError:  # not even text
        why = "not UTF-8 text"
    msg = f"{path} is not a cassette ({why}); give a file written by `madagents reproduce|chat --record`"
    raise UserInputError(msg)


def _replay_reproduce(
    cassette: Cassette, client: ModelClient, run_dir: Path, settings: Settings, reporter: Reporter
) -> Path:
    if cassette.task is None or cassette.seed is None:
        msg = "the cassette's reproduce session lacks its task or seed"
        raise UserInputError(msg)
    task = Task(text=cassette.task, seed=cassette.seed, max_events=cassette.max_events)
    # a failed run is an outcome too: the comparison says whether it failed the same way
    with contextlib.suppress(RunFailedError):
        start_run(task, run_dir, settings, sys.argv, Driver(reporter=reporter, models=client))
    return run_dir


def run_chat(
    resume: Path | None,
    record: Path | None,
    settings: Settings,
    reporter: Reporter,
    console: Console,
    replay: Path | None = None,
) -> None:
    """The terminal chat; ``replay`` answers with a recorded chat's tutor turns instead of a model."""
    if record and replay:
        msg = "--record and --replay exclude each other: a replayed session has no model turns of its own to record"
        raise UserInputError(msg)
    session_dir = find_session(resume, settings.runs_dir) if resume else ChatSession.new_dir(settings)
    if resume:  # before the model's settings are checked: a wrong name is the first thing to hear about
        open_session_dir(session_dir)
    client: ModelClient
    if replay:
        cassette = _chat_cassette(replay)
        settings = settings.model_copy(update={"sandbox": cassette.backend})  # as recorded, like `replay`
        client = ChatReplayClient(cassette)
    else:
        client = make_client(settings.llm)
    recorder = RecordingClient(client) if record else None
    typed: list[str] = []
    read_line = input_reader(console, session_dir)

    def read_input() -> str | None:
        line = read_line()
        if line is not None:
            typed.append(line)
        return line

    run_dirs = drive_chat(
        session_dir, recorder or client, settings, reporter, console, read_input, resume=resume is not None
    )
    if record and recorder:
        header = Cassette(
            source="recorded",
            model=client.model_name("tutor"),
            entry="chat",
            user_inputs=typed,
            backend=_recorded_backend(settings),
        )
        record_cassette(record, recorder, header, run_dirs)


def _chat_cassette(path: Path) -> Cassette:
    cassette = load_cassette(path)
    if cassette.entry != "chat":
        msg = f"{path} records a {cassette.entry} session, not a chat; replay it with `madagents replay {path}`"
        raise UserInputError(msg)
    return cassette


class ChatReplayClient(ReplayClient):
    """A recorded chat's tutor answering at the terminal: a conversation the cassette did not record is an error
    the student reads (and the session goes on), not the end of the session."""

    def complete(
        self,
        *,
        role: str,
        messages: Sequence[BaseMessage],
        tools: Sequence[ToolSchema],
        on_token: TokenCallback | None = None,
    ) -> AIMessage:
        try:
            return super().complete(role=role, messages=messages, tools=tools, on_token=on_token)
        except ReplayMismatchError:
            recorded = ", ".join(repr(line) for line in self.cassette.user_inputs)
            msg = f"the cassette holds no answer to this conversation; it was recorded with the inputs {recorded}"
            raise ModelAccessError(msg) from None


def drive_chat(
    session_dir: Path,
    client: ModelClient,
    settings: Settings,
    reporter: Reporter,
    console: Console,
    read_input: Callable[[], str | None],
    *,
    resume: bool = False,
) -> list[Path]:
    """Run a chat session on ``read_input`` (also used for the yes/no questions); returns its run directories."""
    session = open_session_dir(session_dir) if resume else RunDir.create(session_dir)
    with runlock.holding(session.path, sys.argv):
        if not resume:
            session.write_model("run.json", new_session_info(sys.argv))
        return _converse(session, client, settings, reporter, console, read_input, resumed=resume)


def _converse(
    session: RunDir,
    client: ModelClient,
    settings: Settings,
    reporter: Reporter,
    console: Console,
    read_input: Callable[[], str | None],
    *,
    resumed: bool,
) -> list[Path]:
    streamed = AnswerStream(console)

    def confirm(question: str) -> bool:
        streamed.end()
        console.print(yes_no_question(question))
        answer = read_input()
        return answer is not None and answer.strip().lower() in YES

    def show(text: str) -> None:
        streamed.end()
        console.print(text, markup=False, highlight=False)

    context = ChatContext(
        settings=settings,
        session=session,
        models=client,
        reporter=AnswerFirst(reporter, streamed),
        confirm=confirm,
        on_token=streamed.token,
        command_line=sys.argv,
    )
    chat = ChatSession(context)
    console.print(greeting())
    console.print(session_line(chat.state(), session.path, resumed=resumed), soft_wrap=True)
    chat_loop(chat, read_input, show)
    streamed.end()
    console.print(parting(session.path), soft_wrap=True)
    return [session.path / name for name in chat.state().runs]
