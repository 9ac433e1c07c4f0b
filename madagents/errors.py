"""Errors that reach the user as one paragraph and an exit code, never as a traceback."""

from __future__ import annotations

__all__ = ["RunFailedError", "UserInputError"]


class UserInputError(Exception):
    """The input (workflow file, command-line option, output directory) is wrong; exit code 2.

    The message names what is wrong and what to write instead.
    """

    exit_code = 2


class RunFailedError(Exception):
    """The run itself failed (a tool or a physics gate); exit code 1. The run directory says why."""

    exit_code = 1
