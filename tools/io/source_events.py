"""The events of an earlier run, checked before a reanalysis reads them (``madagents reanalyze``).

The host copies the source run's events file and its generation result into the new run's ``source/``; this
tool checks both against the sha256 the source run's provenance recorded and reports the sample as a generation
step would (events, σ), so the analysis and the reviewer's gates treat it like freshly generated events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from madagents_tools.contract import (
    RunPath,
    ToolRequest,
    ToolResult,
    exit_without_teardown,
    package_versions,
    record_file,
    sha256_file,
    tool_main,
)

__all__ = ["Request", "Result", "main", "run"]

SHA256 = r"^[0-9a-f]{64}$"


class Request(ToolRequest):
    tool: Literal["source_events"] = "source_events"
    source_run: str = Field(description="The source run's directory, where reproduce.sh looks for the files first.")
    source_run_id: str = Field(description="The source run's run id.")
    events_path: RunPath = Field(description="The copy of the source run's events file in this run.")
    events_sha256: str = Field(pattern=SHA256, description="Its sha256 in the source run's provenance.json.")
    generation_result_path: RunPath = Field(description="The copy of the source run's generation result.")
    generation_sha256: str = Field(pattern=SHA256, description="Its sha256 in the source run's provenance.json.")


class Result(ToolResult):
    n_events: int = Field(default=0, description="Events in the file's TTree.")
    sigma_pb: float | None = None
    sigma_err_pb: float | None = None


class _Generation(BaseModel):
    ok: bool
    n_events: int = 0
    sigma_pb: float | None = None
    sigma_err_pb: float | None = None


def run(request: Request) -> Result:
    versions = package_versions("uproot")
    for path, expected in (
        (request.events_path, request.events_sha256),
        (request.generation_result_path, request.generation_sha256),
    ):
        if not Path(path).is_file():
            msg = f"{path} is missing; copy it from run {request.source_run_id} ({request.source_run})"
            return Result(ok=False, error=msg, versions=versions)
        found = sha256_file(path)
        if found != expected:
            msg = f"{path} has sha256 {found[:12]}…, the source run recorded {expected[:12]}…: it is not its file"
            return Result(ok=False, error=msg, versions=versions)
    generation = _Generation.model_validate_json(Path(request.generation_result_path).read_text())
    n_events = _count(request.events_path)
    warnings = []
    if n_events != generation.n_events:
        warnings.append(f"the file holds {n_events} events, the source run's generation says {generation.n_events}")
    return Result(
        ok=True,
        n_events=n_events,
        sigma_pb=generation.sigma_pb,
        sigma_err_pb=generation.sigma_err_pb,
        files=[record_file(request.events_path, "root", n_events)],
        versions=versions,
        warnings=warnings,
    )


def _count(path: str) -> int:
    import uproot  # noqa: PLC0415 - heavy, only needed here

    from madagents_tools.io.event_io import DELPHES_TREE, PARTICLE_TREE  # noqa: PLC0415

    with uproot.open(path) as file:
        name = PARTICLE_TREE if PARTICLE_TREE in file.keys(cycle=False) else DELPHES_TREE
        return int(file[name].num_entries)


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
