"""Report which packages and programs the sandbox provides, and their versions (installer, doctor)."""

from __future__ import annotations

import os
import shutil
from typing import Literal

from pydantic import Field

from madagents_tools.contract import (
    NOT_INSTALLED,
    ToolRequest,
    ToolResult,
    exit_without_teardown,
    package_versions,
    tool_main,
)
from madagents_tools.detector.detector import DELPHES_EXECUTABLE, find_delphes
from madagents_tools.generation.mg5_run import Mg5Error, find_mg5

__all__ = ["Request", "Result", "main", "run"]


class Request(ToolRequest):
    tool: Literal["environment"] = "environment"
    packages: list[str] = Field(description="Distribution names to look up.", examples=[["pythia8mc", "uproot"]])
    optional_packages: list[str] = Field(
        default_factory=list, description="Looked up too, but their absence is not an error.", examples=[["torch"]]
    )
    programs: list[str] = Field(
        default_factory=list, description="Executables looked up on PATH.", examples=[["mg5_aMC", "DelphesHepMC3"]]
    )


class Result(ToolResult):
    missing: list[str] = Field(default_factory=list, description="Required packages that are not installed.")
    programs: dict[str, str | None] = Field(default_factory=dict, description="Program -> path, None if absent.")


def run(request: Request) -> Result:
    versions = package_versions(*request.packages, *request.optional_packages)
    missing = [name for name in request.packages if versions[name] == NOT_INSTALLED]
    error = f"missing packages: {', '.join(missing)}" if missing else None
    programs = {name: locate(name) for name in request.programs}
    return Result(ok=not missing, error=error, versions=versions, missing=missing, programs=programs)


def locate(program: str) -> str | None:
    """Where the tools would find ``program``: MG5 and Delphes honour ``MG5_PATH`` and ``DELPHES_PATH`` first."""
    if program == "mg5_aMC":
        try:
            return str(find_mg5(os.environ, "").root / "bin" / "mg5_aMC")
        except Mg5Error:
            return None
    if program == DELPHES_EXECUTABLE:
        delphes = find_delphes()
        return str(delphes) if delphes else None
    return shutil.which(program)


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
