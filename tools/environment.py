"""Report which packages the sandbox provides, and their versions (used by the installer)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tools.contract import ToolRequest, ToolResult, package_versions, tool_main

__all__ = ["Request", "Result", "main", "run"]


class Request(ToolRequest):
    tool: Literal["environment"] = "environment"
    packages: list[str] = Field(description="Distribution names to look up.", examples=[["pythia8mc", "uproot"]])


class Result(ToolResult):
    missing: list[str] = Field(default_factory=list, description="Requested packages that are not installed.")


def run(request: Request) -> Result:
    versions = package_versions(*request.packages)
    missing = [name for name in request.packages if versions[name] == "not installed"]
    error = f"missing packages: {', '.join(missing)}" if missing else None
    return Result(ok=not missing, error=error, versions=versions, missing=missing)


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    raise SystemExit(main())
