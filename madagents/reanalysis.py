"""``madagents reanalyze``: a new analysis of a finished run's events, in a new run directory.

The source run must have succeeded, its events and generation result must still have the sha256 its provenance
recorded, and the workflow must describe the process that produced them (the same generator settings, MG5 process
and detector); otherwise the reanalysis is refused with exit code 2 before anything is written.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console

from madagents.agents.planner import plan_workflow
from madagents.errors import UserInputError
from madagents.reanalysis_spec import Reanalysis
from madagents.settings import Settings
from madagents.source_run import load_source, process_signature
from madagents.state import Plan
from madagents.workflow import Workflow, load_workflow
from madagents_tools.generation import pythia8_generate
from madagents_tools.io.event_io import PARTICLE_TREE

__all__ = ["prepare_reanalysis", "run_reanalysis"]


def run_reanalysis(run_dir: Path, workflow_path: Path, out: Path | None, settings: Settings, console: Console) -> None:
    """``madagents reanalyze``: check the source run, run the analysis in a new run directory, print the summary."""
    from madagents import runner  # noqa: PLC0415 - the graph loads slowly; the checks above need none of it
    from madagents.console import RichReporter, summary_table  # noqa: PLC0415

    start = time.monotonic()
    spec = prepare_reanalysis(run_dir, load_workflow(workflow_path))
    target = out or runner.default_run_dir(settings, spec.name)
    if spec.source.other_samples:
        console.print(
            f"note: {run_dir} has several samples; its own sample's events ({spec.source.events_path}) are "
            f"reanalysed, not those of {', '.join(spec.source.other_samples)}"
        )
    state = runner.start_run(spec, target, settings, sys.argv, runner.Driver(reporter=RichReporter(console)))
    console.print(summary_table(state, target, time.monotonic() - start))


def prepare_reanalysis(run_dir: Path, workflow: Workflow) -> Reanalysis:
    """The reanalysis of ``run_dir``'s events with ``workflow``'s analysis; ``UserInputError`` if it cannot be."""
    if workflow.samples:
        msg = (
            f"reanalyze runs the analysis on one sample, the events of {run_dir}'s own process; remove samples "
            "from the workflow (a run with samples is reanalysed on its own sample, the others are not)"
        )
        raise UserInputError(msg)
    source, source_plan = load_source(run_dir)
    wanted = plan_workflow(workflow)
    differences = _differences(process_signature(source_plan), process_signature(wanted))
    if differences:
        msg = (
            f"the workflow's process is not the one run {source.run_id} generated: {differences}; "
            "reanalyse with the source run's process, generator and detector settings (copy them from its "
            "workflow) and change only the analysis and checks"
        )
        raise UserInputError(msg)
    _check_jets(source_plan, wanted, run_dir)
    if workflow.detector is None:
        _check_collections(workflow, run_dir / source.events_path, run_dir)
    return Reanalysis(name=f"{workflow.name}-reanalysis", workflow=workflow, source=source)


def _differences(source: list[str], wanted: list[str]) -> str:
    only_source = [line for line in source if line not in wanted]
    only_wanted = [line for line in wanted if line not in source]
    parts = []
    if only_wanted:
        parts.append(f"the workflow has {only_wanted[:3]}")
    if only_source:
        parts.append(f"the run had {only_source[:3]}")
    return ", ".join(parts)


def _check_jets(source: Plan, wanted: Plan, run_dir: Path) -> None:
    """An analysis of jets needs the source's events to hold jets of the same definition."""
    needed = [request.jets for _, request in wanted.steps_of(pythia8_generate.Request)[:1] if request.jets]
    if not needed:
        return
    stored = [request.jets for _, request in source.steps_of(pythia8_generate.Request)[:1]]
    if not stored or stored[0] is None:
        msg = (
            f"the analysis uses jets, but {run_dir}'s events hold none "
            "(its own analysis used no jets, so none were clustered)"
        )
        raise UserInputError(msg)
    if stored[0] != needed[0]:
        msg = (
            f"the analysis needs jets {needed[0].model_dump()}, "
            f"but {run_dir}'s events hold jets {stored[0].model_dump()}"
        )
        raise UserInputError(msg)


def _check_collections(workflow: Workflow, events: Path, run_dir: Path) -> None:
    """The particle-level events hold every collection the analysis selects (runs older than one lack it)."""
    import uproot  # noqa: PLC0415 - heavy, only needed here

    wanted = workflow.analysis.collections() - {"jet"}  # jets: _check_jets, from the plan
    with uproot.open(events) as file:
        stored = set(file[PARTICLE_TREE].keys()) if PARTICLE_TREE in file else set()
    missing = sorted(name for name in wanted if f"{name}_pt" not in stored)
    if missing:
        msg = (
            f"the analysis selects {', '.join(missing)} objects, but {run_dir}'s events hold none (madagents stored "
            "them only from a later version on); generate the run again with this version to analyse them"
        )
        raise UserInputError(msg)
