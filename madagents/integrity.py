"""Is a run directory still what its run wrote? Checked before anything in it is believed or executed.

``provenance.json`` lists the sha256 of every file the run produced. A received run directory passes only if each
listed file is there unchanged, no other file was added, and ``reproduce.sh`` is exactly the script the plan and
provenance.json's tool host render to — so a line slipped into ``reproduce.sh`` is found before the script could run,
and a number edited in ``report.md`` or a result file is found even when it is self-consistent.

A run made before provenance.json recorded the tool host cannot have its script rendered again: its files are still
checked, and the gate is inconclusive rather than failed (nothing says the directory was changed), so the reviewer
executes a script it renders from plan.json instead of the run's own.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from madagents.reproduce import SCRIPT_NAME, VERIFY_DIR, render_reproduce_script
from madagents.rundir import BOOKKEEPING, Provenance, RunInfo
from madagents.safe_files import UnsafePathError, read_model, read_text, sha256_inside
from madagents.state import GateResult, Plan

__all__ = ["GATE", "check_integrity"]

GATE = "integrity"
LISTED_PROBLEMS = 5
"""Problems named in the gate message; the rest are counted."""


def check_integrity(run_dir: Path, plan: Plan) -> GateResult:
    """Every file against provenance.json's sha256, and reproduce.sh against the plan's own script.

    Inconclusive (and passed) when the files match but reproduce.sh cannot be checked: the run's script must then
    not be executed.
    """
    try:
        provenance = read_model(run_dir, "provenance.json", Provenance)
    except UnsafePathError as exc:
        return GateResult(gate=GATE, passed=False, message=f"no usable provenance.json to check the files: {exc}")
    problems = _file_problems(run_dir, {record.path: record.sha256 for record in provenance.artifacts})
    problems += _script_problems(run_dir, plan, _run_id(run_dir, provenance), provenance)
    if problems:
        shown = "; ".join(problems[:LISTED_PROBLEMS])
        more = f"; and {len(problems) - LISTED_PROBLEMS} more" if len(problems) > LISTED_PROBLEMS else ""
        message = f"the run directory was changed after the run: {shown}{more}"
        return GateResult(gate=GATE, passed=False, message=message)
    matched = f"{len(provenance.artifacts)} files match provenance.json's sha256"
    if provenance.tool_host is None:
        message = (
            f"{matched}; {SCRIPT_NAME} cannot be checked: provenance.json does not record what ran the tools (the run "
            "was made by a madagents that did not record it), so the run's own script is not executed"
        )
        return GateResult(gate=GATE, passed=True, message=message, inconclusive=True)
    return GateResult(gate=GATE, passed=True, message=f"{matched}; {SCRIPT_NAME} is the plan's script")


def _run_id(run_dir: Path, provenance: Provenance) -> str:
    """The id the run was written under (a copied or moved directory keeps it in run.json)."""
    try:
        return read_model(run_dir, "run.json", RunInfo).run_id
    except UnsafePathError:
        return provenance.run_id


def _file_problems(run_dir: Path, recorded: dict[str, str]) -> list[str]:
    problems: list[str] = []
    present = set(_listed_files(run_dir, problems))
    for relative, digest in recorded.items():
        if relative not in present:
            problems.append(f"{relative} is missing")
            continue
        try:
            found = sha256_inside(run_dir, relative)
        except (OSError, UnsafePathError) as exc:
            problems.append(f"{relative} cannot be read ({exc})")
            continue
        if found != digest:
            problems.append(f"{relative} was changed (sha256 {found[:12]}…, provenance {digest[:12]}…)")
    problems += [f"{relative} is not listed in provenance.json" for relative in sorted(present - set(recorded))]
    return problems


def _listed_files(run_dir: Path, problems: list[str]) -> list[str]:
    """Files the provenance must cover: as ``RunDir.artifacts`` lists them, without following symbolic links."""
    found = []
    for top, dirs, files in os.walk(run_dir, followlinks=False):
        relative_top = Path(top).relative_to(run_dir)
        dirs[:] = [name for name in dirs if not (relative_top == Path() and name == VERIFY_DIR)]
        for name in sorted([*files, *(name for name in dirs if os.path.islink(Path(top, name)))]):
            relative = (relative_top / name).as_posix()
            if _is_bookkeeping(relative):
                continue
            if stat.S_ISLNK(os.lstat(Path(top, name)).st_mode):
                problems.append(f"{relative} is a symbolic link")
                continue
            found.append(relative)
    return found


def _is_bookkeeping(relative: str) -> bool:
    name = Path(relative).name
    return relative in BOOKKEEPING or name.startswith(".") or name.startswith("checkpoints.sqlite")


def _script_problems(run_dir: Path, plan: Plan, run_id: str, provenance: Provenance) -> list[str]:
    try:
        script = read_text(run_dir, SCRIPT_NAME)
    except UnsafePathError as exc:
        return [f"{SCRIPT_NAME}: {exc}"]
    if provenance.tool_host is None:  # written before madagents recorded it: the script cannot be rendered again
        return []
    if script != render_reproduce_script(plan, run_id, provenance.tool_host):
        return [f"{SCRIPT_NAME} is not the script plan.json and provenance.json render to; it will not be executed"]
    return []
