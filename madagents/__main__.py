"""``python -m madagents`` and the ``madagents`` console script."""

from __future__ import annotations

from madagents.cli import app
from madagents_tools.contract import exit_without_teardown


def entry() -> None:
    """The ``madagents`` command (console script and ``python -m madagents``): the app, then an exit without Python's
    teardown (of the ~1 400 modules a run imports: 0.35 s of every command, after it closed its files, sandbox and
    processes)."""
    try:
        app(prog_name="madagents")
    except SystemExit as exc:
        exit_without_teardown(exc.code)
    exit_without_teardown(0)


if __name__ == "__main__":
    entry()
