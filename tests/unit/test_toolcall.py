from __future__ import annotations

from pathlib import Path

from langgraph.runtime import Runtime

from madagents.agents.installer import installer
from madagents.agents.planner import plan_workflow
from madagents.context import RunContext
from madagents.rundir import RunDir
from madagents.sandbox import LocalSandbox
from madagents.settings import Settings
from madagents.state import RunState
from madagents.toolcall import call_tool
from madagents.workflow import load_workflow
from madagents_tools import environment
from tests.conftest import DRELL_YAN


def _context(tmp_path: Path, **settings: float) -> RunContext:
    rundir = RunDir.create(tmp_path / "run")
    return RunContext(Settings(**settings), rundir, LocalSandbox(rundir.path), ["test"])


def test_tool_call_keeps_request_result_and_log(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    result, call = call_tool(ctx, "steps/00-env", environment.Request(packages=["pydantic"]), environment.Result)
    assert result.ok
    assert result.versions["pydantic"]
    assert call.ok
    assert call.tool == "environment"
    assert call.log_path == "steps/00-env/log.txt"
    for name in ["request.json", "result.json", "log.txt"]:
        assert (ctx.rundir.path / "steps/00-env" / name).is_file()
    (event,) = ctx.rundir.trace_events()
    assert (event.event, event.tool, event.ok) == ("tool_call", "environment", True)


def test_missing_package_is_reported_by_name(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    request = environment.Request(packages=["pydantic", "no-such-package-madagents"])
    result, call = call_tool(ctx, "steps/00-env", request, environment.Result)
    assert not result.ok
    assert not call.ok
    assert result.missing == ["no-such-package-madagents"]


def test_a_tool_killed_at_the_timeout_becomes_a_failed_result(tmp_path: Path) -> None:
    ctx = _context(tmp_path, tool_timeout_s=0.05)
    result, call = call_tool(ctx, "steps/00-env", environment.Request(packages=["pydantic"]), environment.Result)
    assert not result.ok
    assert result.error is not None
    assert "was killed after 0.05 s" in result.error
    assert call.error == result.error


def test_installer_says_how_to_fix_a_missing_package(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    plan = plan_workflow(load_workflow(DRELL_YAN))
    plan = plan.model_copy(update={"required_packages": ["pydantic", "no-such-package-madagents"]})
    state = RunState(workflow=load_workflow(DRELL_YAN), plan=plan)
    update = installer(state, runtime=Runtime(context=ctx))
    assert (
        "lacks no-such-package-madagents; install them with `pip install no-such-package-madagents`" in update["error"]
    )
