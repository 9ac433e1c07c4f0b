"""Host side of the tool contract: write the request, run the tool in the sandbox, read the typed result."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TypeVar

from madagents import mg5_cache
from madagents.context import RunContext
from madagents.rundir import TraceEvent
from madagents.safe_files import UnsafePathError, read_model
from madagents.sandbox.base import ExecResult
from madagents.state import ToolCall
from madagents_tools import TOOL_MODULES
from madagents_tools.contract import ToolRequest, ToolResult, read_progress

__all__ = ["HOST_OWNED_DIRS", "call_tool", "tool_command", "writable_dirs"]

HOST_OWNED_DIRS = ("steps", "verify")
"""Top-level directories of a run that hold the host's files (requests, logs, the reviewer's scratch space): a tool
writes there only inside its own step directory."""

ResultT = TypeVar("ResultT", bound=ToolResult)


def tool_command(python: str, tool: str, step_dir: str) -> list[str]:
    """The command that runs the tool's module on ``step_dir/request.json``."""
    return [python, "-m", TOOL_MODULES[tool], f"{step_dir}/request.json", f"{step_dir}/result.json"]


def writable_dirs(request: ToolRequest, step_dir: str) -> list[str]:
    """The directories a tool call may write: its step directory and its request's outputs.

    Raises ``ValueError`` for an output among the host's files (the run directory's top, ``steps/``, ``verify/``).
    """
    step = PurePosixPath(step_dir)
    dirs = [step_dir, *request.written_dirs()]
    for directory in dirs:
        path = PurePosixPath(directory)
        if path.is_relative_to(step):
            continue
        if path == PurePosixPath() or path.parts[0] in HOST_OWNED_DIRS:
            where = "at the top of the run directory" if path == PurePosixPath() else f"into {directory}/"
            msg = (
                f"tool {request.tool} would write {where}, where the host keeps its own files; "
                "give its outputs a directory of their own, such as events/ or hists/"
            )
            raise ValueError(msg)
    return sorted(set(dirs))


def call_tool(
    ctx: RunContext, step_dir: str, request: ToolRequest, result_type: type[ResultT]
) -> tuple[ResultT, ToolCall]:
    """Run one tool call in ``step_dir`` (relative to the run directory).

    The request, result and log are kept there; a tool that dies without writing a result, or writes one that
    is not a valid result, becomes ``ok=False``. The tool may write only its step directory and its outputs.
    """
    request = mg5_cache.prepare(ctx, request)
    ctx.rundir.write_model(f"{step_dir}/request.json", request)
    ctx.rundir.file(f"{step_dir}/result.json").unlink(missing_ok=True)  # a stale one from a killed attempt

    def on_line(line: str) -> None:
        if (progress := read_progress(line)) is not None:
            ctx.reporter.progress(step_dir, *progress)
            ctx.early_reproduction.progress(*progress)

    try:
        writable = writable_dirs(request, step_dir)
    except ValueError as exc:
        executed = ExecResult(exit_code=-1, timed_out=False, seconds=0.0, output_tail="")
        result = result_type(ok=False, error=str(exc))
    else:
        executed = ctx.sandbox.run(
            tool_command(ctx.sandbox.python, request.tool, step_dir),
            timeout_s=ctx.settings.tool_timeout_s,
            log_path=f"{step_dir}/log.txt",
            on_line=on_line,
            writable=writable,
            protected=[f"{step_dir}/request.json"],
        )
        result = _read_result(ctx, step_dir, request, result_type, executed)
    mg5_cache.store(ctx, request, result.ok)
    result = result.model_copy(update={"log_tail": executed.output_tail, "log_path": f"{step_dir}/log.txt"})
    call = ToolCall(
        step_dir=step_dir,
        tool=request.tool,
        ok=result.ok,
        error=result.error,
        seconds=executed.seconds,
        cpu_seconds=executed.cpu_seconds,
        log_path=f"{step_dir}/log.txt",
    )
    ctx.rundir.trace(
        TraceEvent(
            event="tool_call",
            step_dir=step_dir,
            tool=request.tool,
            seconds=call.seconds,
            cpu_seconds=call.cpu_seconds,
            ok=call.ok,
            error=call.error,
        )
    )
    return result, call


def _read_result(
    ctx: RunContext, step_dir: str, request: ToolRequest, result_type: type[ResultT], executed: ExecResult
) -> ResultT:
    """The tool's result file, read as untrusted data: bounded, without following links, validated."""
    result_file = f"{step_dir}/result.json"
    if ctx.rundir.file(result_file).exists() or ctx.rundir.file(result_file).is_symlink():
        try:
            return read_model(ctx.rundir.path, result_file, result_type)
        except UnsafePathError as exc:
            return result_type(ok=False, error=f"tool {request.tool} wrote an unusable result: {exc}")
    why = "wrote no result"
    if executed.timed_out:
        why = f"was killed after {ctx.settings.tool_timeout_s:g} s"
    elif executed.oom_killed:
        why = "was killed for exceeding the sandbox's memory limit"
    return result_type(ok=False, error=f"tool {request.tool} {why} (exit code {executed.exit_code})")
