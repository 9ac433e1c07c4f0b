"""Host side of the tool contract: write the request, run the tool in the sandbox, read the typed result."""

from __future__ import annotations

import json
from typing import TypeVar

from madagents.context import RunContext
from madagents.rundir import TraceEvent
from madagents.state import ToolCall
from tools.contract import PROGRESS_PREFIX, ToolRequest, ToolResult

__all__ = ["call_tool", "tool_command"]

ResultT = TypeVar("ResultT", bound=ToolResult)


def tool_command(python: str, tool: str, step_dir: str) -> list[str]:
    """The command that runs ``tools/<tool>.py`` on ``step_dir/request.json`` (also used in reproduce.sh)."""
    return [python, "-m", f"tools.{tool}", f"{step_dir}/request.json", f"{step_dir}/result.json"]


def call_tool(
    ctx: RunContext, step_dir: str, request: ToolRequest, result_type: type[ResultT]
) -> tuple[ResultT, ToolCall]:
    """Run one tool call in ``step_dir`` (relative to the run directory).

    The request, result and log are kept there; a tool that dies without writing a result becomes ``ok=False``.
    """
    ctx.rundir.write_model(f"{step_dir}/request.json", request)
    ctx.rundir.file(f"{step_dir}/result.json").unlink(missing_ok=True)  # a stale one from a killed attempt

    def on_line(line: str) -> None:
        if line.startswith(PROGRESS_PREFIX):
            progress = json.loads(line.removeprefix(PROGRESS_PREFIX))
            ctx.reporter.progress(step_dir, progress["done"], progress["total"])

    executed = ctx.sandbox.run(
        tool_command(ctx.sandbox.python, request.tool, step_dir),
        timeout_s=ctx.settings.tool_timeout_s,
        log_path=f"{step_dir}/log.txt",
        on_line=on_line,
    )
    result_file = ctx.rundir.file(f"{step_dir}/result.json")
    if result_file.is_file():
        result = result_type.model_validate_json(result_file.read_text())
    else:
        why = "wrote no result"
        if executed.timed_out:
            why = f"was killed after {ctx.settings.tool_timeout_s:g} s"
        elif executed.oom_killed:
            why = "was killed for exceeding the sandbox's memory limit"
        result = result_type(ok=False, error=f"tool {request.tool} {why} (exit code {executed.exit_code})")
    result = result.model_copy(update={"log_tail": executed.output_tail, "log_path": f"{step_dir}/log.txt"})
    call = ToolCall(
        step_dir=step_dir,
        tool=request.tool,
        ok=result.ok,
        error=result.error,
        seconds=executed.seconds,
        log_path=f"{step_dir}/log.txt",
    )
    ctx.rundir.trace(
        TraceEvent(
            event="tool_call", step_dir=step_dir, tool=request.tool, seconds=call.seconds, ok=call.ok, error=call.error
        )
    )
    return result, call
