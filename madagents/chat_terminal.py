"""The terminal side of ``madagents chat``: the greeting, line editing and history, and where the session is kept."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from madagents.chat import SLASH_COMMANDS, ChatState

__all__ = ["HISTORY", "find_session", "greeting", "input_reader", "parting", "session_line", "yes_no_question"]

HISTORY = ".input_history"
"""What the student typed, in the session directory: the arrow keys bring it back, after --resume too."""
GREETING = (
    "**madagents tutor.** Ask for a collider simulation in your own words, e.g. *simulate Drell–Yan at 13 TeV and "
    "plot the dimuon mass*. I propose a workflow (Pythia8, MadGraph5, Delphes), explain its physics choices, "
    "estimate its cost with a small pilot run and ask you before running it."
)

Reader = Callable[[], str | None]


def greeting() -> Markdown:
    """What the tutor can do, and the commands."""
    commands = ", ".join(f"`{name}` {what}" for name, what in SLASH_COMMANDS.items())
    return Markdown(f"{GREETING}\n\nCommands: {commands}.")


def session_line(state: ChatState, session_dir: Path, *, resumed: bool) -> Text:
    """The session directory (with what it already holds when resumed); printed unwrapped, so it copies whole."""
    held = ""
    if resumed:
        runs = f"; runs: {', '.join(state.runs)}" if state.runs else ""
        held = f" (resumed: {len(state.messages)} earlier messages{runs})"
    return Text(f"Session: {session_dir}{held}", style="bold")


def parting(session_dir: Path) -> Text:
    return Text(f"Session kept in {session_dir}; continue it with: madagents chat --resume {session_dir}", style="dim")


def yes_no_question(question: str) -> Text:
    """The confirmation, as plain text: rich would take ``[y/N]`` for a markup tag and print nothing of it."""
    return Text.assemble((question, "bold yellow"), " [y/N]")


def find_session(given: Path, runs_dir: Path) -> Path:
    """A session directory given as a path, or as its name under the runs directory (``chat-YYYYmmdd-HHMMSS``)."""
    return given if given.is_dir() or given.is_absolute() or not (runs_dir / given).is_dir() else runs_dir / given


def input_reader(console: Console, session_dir: Path) -> Reader:
    """Lines the student types: with line editing and history (prompt_toolkit) on a terminal, plain reads from a pipe.

    End of input (Ctrl-D) is ``None``; Ctrl-C drops the line being typed, as in a shell.
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return lambda: _plain_line(console)
    from prompt_toolkit import PromptSession  # noqa: PLC0415 - only a terminal needs it
    from prompt_toolkit.history import FileHistory  # noqa: PLC0415

    prompt: PromptSession[str] = PromptSession(history=FileHistory(str(session_dir / HISTORY)))

    def read() -> str | None:
        try:
            return prompt.prompt([("bold ansicyan", "you> ")])
        except EOFError:
            return None
        except KeyboardInterrupt:
            return ""

    return read


def _plain_line(console: Console) -> str | None:
    try:
        return console.input("[bold cyan]you>[/bold cyan] ")
    except EOFError:
        return None
