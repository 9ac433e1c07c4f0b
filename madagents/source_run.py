"""A finished run as the source of a reanalysis: its events, checked against its provenance, and its process.

A run directory received from elsewhere is data: everything is read through :mod:`madagents.safe_files`
(bounded, without following links), and nothing in it is executed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from madagents.errors import UserInputError
from madagents.reanalysis_spec import SourceRun
from madagents.rundir import Provenance, RunDir, RunStatus
from madagents.safe_files import UnsafePathError, read_model, resolve_inside, sha256_inside
from madagents.state import Plan
from madagents_tools.analysis import analyze, plot_samples
from madagents_tools.contract import FileRecord
from madagents_tools.detector import detector
from madagents_tools.generation import mg5_generate, pythia8_generate

__all__ = ["SOURCE_DIR", "load_source", "process_signature", "stage_source"]

SOURCE_DIR = "source"
"""Where a reanalysis keeps its copy of the source run's files, at their relative paths in the source run."""


def load_source(run_dir: Path) -> tuple[SourceRun, Plan]:
    """The events a finished run analysed, with their sha256 checked against its provenance.json.

    Raises:
        UserInputError: not a finished run, or its events or generation result differ from what it recorded.
    """
    root = run_dir.resolve()
    if not (root / "status.json").is_file():
        msg = f"{run_dir} is not a run directory (no status.json); give the directory of a finished madagents run"
        raise UserInputError(msg)
    try:
        status = read_model(root, "status.json", RunStatus)
        if status.state != "succeeded":
            msg = (
                f"{run_dir} is not a finished run: its status is {status.state}"
                f"{f' ({status.error})' if status.error else ''}; reanalyse a run that succeeded"
            )
            raise UserInputError(msg)
        plan = read_model(root, "plan.json", Plan)
        provenance = read_model(root, "provenance.json", Provenance)
    except (OSError, ValueError, UnsafePathError) as exc:
        msg = f"{run_dir} cannot be read as a finished run ({exc}); it lacks plan.json or provenance.json"
        raise UserInputError(msg) from None
    analysed = plan.steps_of(analyze.Request)
    if not analysed:
        msg = f"{run_dir} analysed no events (its plan has no analysis step); there is nothing to reanalyse"
        raise UserInputError(msg)
    request = analysed[0][1]
    recorded = {record.path: record for record in provenance.artifacts}
    digests = [
        _checked(root, run_dir, path, recorded) for path in (request.events_path, request.generation_result_path)
    ]
    events = recorded[request.events_path]
    source = SourceRun(
        path=str(root),
        run_id=provenance.run_id,
        events_path=request.events_path,
        events_sha256=digests[0],
        generation_result_path=request.generation_result_path,
        generation_sha256=digests[1],
        n_events=events.n_events or plan.expectations.n_events,
        other_samples=[
            sample.name
            for _, plot in plan.steps_of(plot_samples.Request)
            for sample in plot.samples
            if sample.analysis_result_path != f"steps/{analysed[0][0].id}/result.json"
        ],
    )
    return source, plan


def _checked(root: Path, run_dir: Path, relative: str, recorded: dict[str, FileRecord]) -> str:
    """The file's sha256, which must be the one provenance.json recorded."""
    record = recorded.get(relative)
    if record is None:
        msg = f"{run_dir}/provenance.json does not list {relative}; the run's records are incomplete"
        raise UserInputError(msg)
    expected = record.sha256
    try:
        found = sha256_inside(root, relative)
    except (OSError, UnsafePathError) as exc:
        msg = f"{run_dir}/{relative} cannot be read ({exc}); the run's events are missing"
        raise UserInputError(msg) from None
    if found != expected:
        msg = (
            f"{run_dir}/{relative} has sha256 {found[:12]}…, but the run's provenance.json records {expected[:12]}…: "
            "the file changed after the run; reanalyse only the events the run produced"
        )
        raise UserInputError(msg)
    return found


def process_signature(plan: Plan) -> list[str]:
    """What decides the events of a plan: Pythia8 settings, MG5 process and cards, and the detector simulation."""
    lines: list[str] = []
    for _, generate in plan.steps_of(pythia8_generate.Request)[:1]:  # chunks and reference samples share them
        lines += [f"Pythia8 {setting}" for setting in generate.settings]
    for _, hard in plan.steps_of(mg5_generate.Request):
        lines += [f"MG5 model {hard.model}", *(f"MG5 {line}" for line in [*hard.definitions, *hard.processes])]
        lines += [f"MG5 param_card {key} = {value}" for key, value in sorted(hard.param_card.items())]
        lines += [f"MG5 run_card {key} = {value}" for key, value in sorted(hard.run_card.items())]
    for _, simulation in plan.steps_of(detector.Request):
        card = simulation.delphes_card or (simulation.card.name if simulation.card else "")
        lines.append(f"detector {simulation.backend} card {card}")
    return lines or ["particle level"]


def stage_source(rundir: RunDir, source: SourceRun) -> None:
    """Copy (hard-link where possible) the source's events and generation result into ``rundir``'s source/."""
    for relative in (source.events_path, source.generation_result_path):
        origin = resolve_inside(Path(source.path), relative)
        target = rundir.file(f"{SOURCE_DIR}/{relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            continue  # a resumed run staged it before
        try:
            os.link(origin, target)
        except OSError:  # another file system: copy
            shutil.copyfile(origin, target)
