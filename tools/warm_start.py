"""A tool interpreter started before its tool: ``python -m madagents_tools.warm_start``.

Every tool pays its imports and matplotlib's first figure before it does any work: 0.3 s for the generator, 1 s for
the analysis (uproot, awkward, hist, mplhep, the font cache and the mathtext parser). The local sandbox starts this
interpreter while the previous step runs, on the core that step leaves idle (the first tool's while the command line
imports the agent graph, ``--first-tool``), and hands it the next tool's command
as one JSON line on stdin, ``{"argv": ["madagents_tools.x.y", ...], "cwd": "..."}``; it then runs that module as
``python -m`` would. A command that arrives during the preload ends it: the tool imports the rest itself, so a warm
start costs at most the import under way.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import runpy
import select
import sys
import warnings

from madagents_tools.contract import exit_without_teardown

EVENT_STACK = ("numpy", "awkward", "uproot", "pythia8mc")
PLOTTING_STACK = (
    "hist",
    "mplhep",
    "madagents_tools.analysis.plotting:warm_up",
    "madagents_tools.analysis.objects:import_vector",
)
PRELOAD = EVENT_STACK + PLOTTING_STACK
"""Modules the tools share beside the contract (imported first, by this module), in the order the next tool is most
likely to need them; ``module:function`` also calls ``function()``."""
FIRST_TOOL = "--first-tool"
"""The interpreter of a run's first tool, which generates or reads events: it preloads ``EVENT_STACK`` only, since
the plotting stack would stay in that tool's memory for nothing (40 MB through a whole generation)."""


def main() -> None:
    preload(EVENT_STACK if FIRST_TOOL in sys.argv[1:] else PRELOAD)
    line = sys.stdin.readline()
    if not line:  # the sandbox closed without a tool for this interpreter
        return
    command = json.loads(line)
    os.chdir(command["cwd"])
    module, *arguments = command["argv"]
    sys.argv = [module, *arguments]  # run_module puts the module's file first, as python -m does
    sys.stdin = open(os.devnull)  # noqa: SIM115 - a cold tool's stdin is the host's; a warm one reads nothing
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:  # as `python -m` ends; the tools end without teardown themselves, before this
        exit_without_teardown(exc.code)
    exit_without_teardown(0)


def preload(entries: tuple[str, ...] = PRELOAD) -> None:
    # the tool's log shows what the tool does: warnings and log lines of the preload (matplotlib's about its fonts)
    # would appear in it as if the tool had caused them
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for entry in entries:
                if _command_waiting():
                    break
                name, _, function = entry.partition(":")
                # a module that is missing (no Pythia8 in the ML image) or fails is the tool's to report, if it needs it
                with contextlib.suppress(Exception):
                    loaded = importlib.import_module(name)
                    if function:
                        getattr(loaded, function)()
    finally:
        logging.disable(logging.NOTSET)


def _command_waiting() -> bool:
    return bool(select.select([sys.stdin], [], [], 0)[0])


if __name__ == "__main__":
    main()
