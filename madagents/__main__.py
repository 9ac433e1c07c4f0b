"""``python -m madagents`` and the ``madagents`` console script."""

from __future__ import annotations

import atexit
import os
import sys
import threading

from madagents.cli import app


def entry() -> None:
    """The ``madagents`` command (console script and ``python -m madagents``): the app, then an exit without Python's
    teardown.

    The teardown frees the ~1 400 modules a run imports one object at a time: 0.35 s of every command, after it has
    closed its files, sandbox and processes. The exit handlers still run and the streams are flushed; a command
    that leaves a thread of its own running (not a daemon) exits as usual, so that thread finishes.
    """
    try:
        app(prog_name="madagents")
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    if isinstance(code, str):  # what SystemExit("message") prints
        print(code, file=sys.stderr)
        code = 1
    if any(not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        raise SystemExit(code)
    atexit._run_exitfuncs()  # what a normal exit runs, and os._exit would skip
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    entry()
