"""How a ``madagents`` command ends when it cannot finish: one paragraph on stderr and an exit code, no traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from madagents.errors import RunFailedError, UserInputError

if TYPE_CHECKING:
    from madagents.console import RichReporter

__all__ = ["INTERRUPTED_EXIT_CODE", "print_error", "reported_errors", "resumable_on_interrupt", "stderr"]

INTERRUPTED_EXIT_CODE = 130
"""What a shell reports for a command stopped by Ctrl-C (128 + SIGINT)."""

stderr = Console(stderr=True)


def print_error(message: str) -> None:
    # escaped: messages quote YAML such as [mu+, mu-], which rich would take for markup tags
    stderr.print(f"[red]error:[/red] {escape(message)}", highlight=False)


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """A mistake in the input or a failed run ends the command with its one paragraph and exit code, no traceback."""
    try:
        yield
    except (UserInputError, RunFailedError) as exc:
        print_error(str(exc))
        raise typer.Exit(exc.exit_code) from None


@contextlib.contextmanager
def resumable_on_interrupt(run_dir: Path, reporter: RichReporter) -> Iterator[None]:
    """Ctrl-C stops a run where it is; the user is told what is kept and how to go on, with a shell's exit 130."""
    try:
        yield
    except KeyboardInterrupt:
        reporter.close()  # a progress bar left drawn would swallow the message's line
        if (run_dir / "run.json").is_file():
            print_error(
                f"interrupted; {run_dir} keeps the roles that finished: continue it with "
                f"`madagents run --resume {run_dir}`"
            )
        else:
            print_error("interrupted before the run started; nothing was written")
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None
