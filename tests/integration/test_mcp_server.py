"""``madagents mcp`` driven by the ``mcp`` package's own stdio client, as a desktop assistant or IDE agent would.

The server is a real subprocess (``python -m madagents mcp``) speaking JSON-RPC on stdin/stdout; a run started
over MCP is real Pythia8 on the local backend, polled with run_status until it has finished.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult, ImageContent, TextContent

from tests.compare_samples import write_golden_dir
from tests.conftest import DRELL_YAN, REPO

Session = Callable[[ClientSession], Awaitable[None]]
POLL_S = 1.0
RUN_TIMEOUT_S = 300


def serve(runs_dir: Path, talk: Session) -> None:
    """Start ``madagents mcp`` on the local backend with runs under ``runs_dir`` and run ``talk`` against it."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MADAGENTS_SANDBOX": "local",
        "MADAGENTS_RUNS_DIR": str(runs_dir),
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "madagents", "mcp"], env=env, cwd=str(REPO))

    async def main() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await talk(session)

    asyncio.run(main())


def text(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


def test_lists_its_tools_and_checks_a_workflow(tmp_path: Path) -> None:
    async def talk(session: ClientSession) -> None:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {
            "list_processes",
            "check_workflow",
            "run_workflow",
            "run_status",
            "validate_run",
            "compare",
            "read_report",
        } <= set(tools)
        assert "workflow" in tools["check_workflow"].input_schema["properties"]
        checked = await session.call_tool("check_workflow", {"workflow": str(DRELL_YAN), "events": 500})
        assert not checked.is_error
        assert "workflow drell_yan is valid" in text(checked)
        assert "500 Pythia8 events" in text(checked)
        assert "01-generate" in text(checked)
        inline = await session.call_tool("check_workflow", {"workflow": DRELL_YAN.read_text().replace("60", "-5")})
        assert inline.is_error
        assert "the workflow text" in text(inline)
        processes = await session.call_tool("list_processes", {})
        assert "drell_yan: pp → Z/γ* → ℓℓ" in text(processes)

    serve(tmp_path / "runs", talk)


def test_compare_tells_two_seeds_apart_from_a_shifted_mass(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_golden_dir(runs / "seed1", seed=1)
    write_golden_dir(runs / "seed2", seed=2)
    write_golden_dir(tmp_path / "mz94", seed=3, mass=94.0)  # a reference outside the runs directory, by its path

    async def talk(session: ClientSession) -> None:
        same = text(await session.call_tool("compare", {"run": "seed1", "reference": "seed2"}))
        assert same.endswith("seed1 is compatible with seed2"), same
        assert "m_mumu" in same
        shifted = text(await session.call_tool("compare", {"run": "seed1", "reference": str(tmp_path / "mz94")}))
        assert shifted.endswith(f"seed1 is INCOMPATIBLE with {tmp_path / 'mz94'}"), shifted
        missing = await session.call_tool("compare", {"run": "seed1", "reference": "nothing-here"})
        assert missing.is_error

    serve(runs, talk)


def test_bad_input_and_paths_outside_the_runs_directory_are_tool_errors(tmp_path: Path) -> None:
    async def talk(session: ClientSession) -> None:
        missing = await session.call_tool("run_workflow", {"workflow": "no/such.yaml"})
        assert missing.is_error
        assert "workflow file no/such.yaml not found" in text(missing)
        outside = await session.call_tool("read_report", {"run": "../../etc"})
        assert outside.is_error
        assert "give a run's name" in text(outside)
        unknown = await session.call_tool("run_status", {"run": "nothing-here"})
        assert unknown.is_error
        assert "no run 'nothing-here'" in text(unknown)

    serve(tmp_path / "runs", talk)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_a_run_goes_on_in_the_background_and_its_report_has_the_plot(tmp_path: Path) -> None:
    seen: list[str] = []

    async def talk(session: ClientSession) -> None:
        started = await session.call_tool("run_workflow", {"workflow": str(DRELL_YAN), "events": 300, "seed": 5})
        assert not started.is_error, text(started)
        name = text(started).split()[2]
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            status = text(await session.call_tool("run_status", {"run": name}))
            seen.append(status)
            if "running" not in status:
                break
            await asyncio.sleep(POLL_S)
        assert seen[-1].splitlines()[0].endswith("succeeded"), seen[-1]
        report = await session.call_tool("read_report", {"run": name})
        assert "## What was done" in text(report)
        (plot,) = [block for block in report.content if isinstance(block, ImageContent)]
        assert plot.mime_type == "image/png"
        gates = text(await session.call_tool("validate_run", {"run": name}))
        assert re.search(r"\ngates: (\d+)/\1 passed$", gates), gates

    serve(tmp_path / "runs", talk)
    assert any("running: " in status for status in seen)  # the call returned before the run had finished
    assert "σ = " in seen[-1]
