"""The prefix reproduction check, event by event: the events reproduce.sh regenerated against the run's first ones.

Why this is what a prefix check should compare: Pythia8 draws its random numbers in order, so with the run's seed
and settings the first N events of a regeneration are the run's first N events, every column bit for bit. Comparing
them directly proves that the plan's recipe made the run's events, and more strictly than histograms of both
would (a changed event that stays in its bins, or moves between two events of one bin, leaves every histogram
as it was). It also needs no second analysis of the run's prefix: given identical events, the analysis of the
reproduced events (which reproduce.sh still runs and must finish) is the analysis of the run's prefix, by the same
code with the same request (the integrity check renders reproduce.sh from plan.json).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from madagents.safe_files import UnsafePathError, resolve_inside
from madagents.state import Plan
from madagents_tools.generation import pythia8_generate

__all__ = ["TREE", "event_differences"]

TREE = "events"


def event_differences(run_dir: Path, plan: Plan, reproduced: str, n_events: int | None) -> tuple[list[str], list[str]]:
    """For every Pythia8 step: its first ``n_events`` (None: all) against ``reproduced``/its file; (problems, files)."""
    problems, compared = [], []
    for step, request in plan.steps_of(pythia8_generate.Request):
        relative = request.root_path
        try:
            problem = _differences(
                resolve_inside(run_dir, relative),
                resolve_inside(run_dir, f"{reproduced}/{relative}"),
                request.n_events if n_events is None else n_events,
            )
        except UnsafePathError as exc:
            problem = f"cannot compare the events of step {step.id}: {exc}"
        except (OSError, ValueError, KeyError) as exc:  # uproot's errors for a file that is not a sound ROOT file
            problem = f"cannot compare the events of step {step.id}: {type(exc).__name__}: {exc}"
        if problem is not None:
            problems.append(f"step {step.id}: {problem}")
        compared.append(relative)
    return problems, compared


def _differences(run_file: Path, again_file: Path, n_events: int) -> str | None:
    import uproot  # noqa: PLC0415 - heavy, only needed here

    with uproot.open(run_file) as run, uproot.open(again_file) as again:
        ours, theirs = run[TREE], again[TREE]
        # EVENTS=N gives every chunk N events: a chunk of the run smaller than N is compared whole
        if min(ours.num_entries, theirs.num_entries) < n_events:
            return (
                f"{n_events} events expected; the run has {ours.num_entries}, reproduce.sh wrote {theirs.num_entries}"
            )
        if sorted(ours.keys()) != sorted(theirs.keys()):
            return f"the run's branches {sorted(ours.keys())} differ from the reproduced {sorted(theirs.keys())}"
        return _first_difference(ours.arrays(entry_stop=n_events), theirs.arrays(entry_stop=n_events), run_file.name)


def _first_difference(ours: Any, theirs: Any, name: str) -> str | None:
    import awkward as ak  # noqa: PLC0415

    for branch in ours.fields:
        if ak.array_equal(ours[branch], theirs[branch], equal_nan=True):
            continue
        # only on failure: find the event to name (a few thousand at most)
        first = next(
            (
                i
                for i in range(len(ours))
                if not ak.array_equal(ours[branch][i : i + 1], theirs[branch][i : i + 1], equal_nan=True)
            ),
            None,
        )
        if first is None:
            return f"branch {branch} of {name} has another type than the regenerated one"
        return (
            f"event {first} of {name} differs from the regenerated one in branch {branch} "
            f"({ours[branch][first].tolist()} in the run, {theirs[branch][first].tolist()} reproduced)"
        )
    return None
