"""The host's side of the trust boundary: what it reads from a run directory, what it writes, what reaches shell."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from madagents.agents.planner import plan_workflow
from madagents.context import RunContext
from madagents.detector_cards import load_detector_card
from madagents.reproduce import render_reproduce_script
from madagents.rundir import RunDir, TraceEvent
from madagents.safe_files import UnsafePathError, read_model, read_text, resolve_inside
from madagents.sandbox import ExecResult, LocalSandbox
from madagents.sandbox.base import OutputHandler, OutputLog
from madagents.settings import Settings
from madagents.state import Plan
from madagents.toolcall import call_tool, writable_dirs
from madagents.workflow import load_workflow
from madagents_tools import environment
from madagents_tools.analysis import analyze
from madagents_tools.contract import FileRecord
from madagents_tools.generation import pythia8_generate
from tests.conftest import DRELL_YAN

SECRET = "root:$6$madagents-secret-hash:19000:0:99999:7:::"


def test_resolve_inside_refuses_links_devices_and_escapes(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "events/ok.json").write_text("{}")
    (tmp_path / "events/zero").symlink_to("/dev/zero")
    (tmp_path / "linked").symlink_to(tmp_path / "events")
    assert resolve_inside(tmp_path, "events/ok.json") == tmp_path / "events/ok.json"
    refusals = {
        "events/zero": "symbolic link",
        "linked/ok.json": "symbolic link",
        "/dev/zero": "must be relative",
        "../secret": "without '..'",
        "events": "not a regular file",
        "events/missing.json": "does not exist",
    }
    for relative, why in refusals.items():
        with pytest.raises(UnsafePathError, match=why):
            resolve_inside(tmp_path, relative)


def test_reads_are_bounded(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_bytes(b" " * 1001)
    with pytest.raises(UnsafePathError, match=r"big.json holds more than the 1000 bytes the host reads"):
        read_text(tmp_path, "big.json", limit=1000)
    os.mkfifo(tmp_path / "fifo.json")  # would block a plain open() forever
    with pytest.raises(UnsafePathError, match="not a regular file"):
        read_text(tmp_path, "fifo.json")


def test_a_result_naming_a_device_is_not_a_result(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text(
        '{"ok": true, "files": [{"path": "/dev/zero", "sha256": "0", "kind": "root"}]}'
    )
    with pytest.raises(UnsafePathError, match="is not a valid Result"):
        read_model(tmp_path, "result.json", pythia8_generate.Result)
    with pytest.raises(ValueError, match="must be relative to the run directory"):
        FileRecord(path="/dev/zero", sha256="0", kind="root")


def test_host_logs_are_never_written_through_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("host file\n")
    (tmp_path / "log.txt").symlink_to(victim)
    with OutputLog(tmp_path / "log.txt", None) as log:
        log.line("tool output")
    assert victim.read_text() == "host file\n"
    assert not (tmp_path / "log.txt").is_symlink()
    rundir = RunDir(tmp_path)
    (tmp_path / "trace.jsonl").symlink_to(victim)
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        rundir.trace(TraceEvent(event="node_start", node="planner"))
    assert victim.read_text() == "host file\n"


def test_a_tool_writes_only_its_step_and_its_outputs() -> None:
    plan = plan_workflow(load_workflow(DRELL_YAN))
    generate, analysis = (step.request for step in plan.steps)
    assert writable_dirs(generate, "steps/01-generate") == ["events", "steps/01-generate"]
    assert writable_dirs(analysis, "steps/02-analyze") == ["hists", "steps/02-analyze"]
    assert isinstance(analysis, analyze.Request)
    inside = analysis.model_copy(update={"out_dir": "verify/original/02-analyze/hists"})
    assert "verify/original/02-analyze/hists" in writable_dirs(inside, "verify/original/02-analyze")
    for out_dir, where in [(".", "at the top of the run directory"), ("steps/01-generate", "into steps/01-generate/")]:
        hostile = analysis.model_copy(update={"out_dir": out_dir})
        with pytest.raises(ValueError, match=f"would write {where}, where the host keeps its own files"):
            writable_dirs(hostile, "steps/02-analyze")


class _PlantingSandbox(LocalSandbox):
    """Stands for a hostile tool: its 'result' is a link to a device."""

    def run(
        self,
        cmd: list[str],  # noqa: ARG002
        *,
        timeout_s: float,  # noqa: ARG002
        log_path: str,
        cwd: str = ".",  # noqa: ARG002
        on_line: OutputHandler | None = None,
        writable: Sequence[str] = (),
        protected: Sequence[str] = (),  # noqa: ARG002
    ) -> ExecResult:
        with OutputLog(self.workdir / log_path, on_line):
            (self.workdir / writable[0] / "result.json").symlink_to("/dev/zero")
        return ExecResult(exit_code=0, timed_out=False, seconds=0.0, output_tail="")


def test_a_result_that_is_a_link_fails_the_call_within_seconds(tmp_path: Path) -> None:
    rundir = RunDir.create(tmp_path / "run")
    ctx = RunContext(Settings(), rundir, _PlantingSandbox(rundir.path), ["test"])
    result, call = call_tool(ctx, "steps/00-env", environment.Request(packages=["pydantic"]), environment.Result)
    assert not call.ok
    assert result.error is not None
    assert "wrote an unusable result: steps/00-env/result.json is or passes through a symbolic link" in result.error


def test_nothing_rendered_into_reproduce_sh_executes(tmp_path: Path) -> None:
    """A newline in the run id (from --out) and shell syntax in a doctored plan's ids stay data."""
    plan = plan_workflow(load_workflow(DRELL_YAN))
    hostile_step = plan.steps[0].model_construct(**(dict(plan.steps[0]) | {"id": f"01-x$(touch {tmp_path}/pwned-id)"}))
    doctored = Plan.model_construct(
        **(dict(plan) | {"steps": [hostile_step], "workflow": f"dy\ntouch {tmp_path}/pwned-workflow"})
    )
    script = tmp_path / "reproduce.sh"
    host = LocalSandbox(tmp_path).tool_host()
    script.write_text(render_reproduce_script(doctored, f"run\ntouch {tmp_path}/pwned-run-id\n#", host))
    completed = subprocess.run(
        ["bash", str(script), str(tmp_path / "out")],
        env={"PATH": os.environ["PATH"], "PYTHON": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert sorted(path.name for path in tmp_path.glob("pwned*")) == []
    assert (tmp_path / "out/steps" / f"01-x$(touch {tmp_path}/pwned-id)" / "request.json").is_file()


def test_a_detector_card_error_quotes_nothing_of_the_file(tmp_path: Path) -> None:
    for text in [f"{SECRET}\n", f"{SECRET}: [\n", f"name: {SECRET}\n", f"muon: {SECRET}\n"]:
        card = tmp_path / "card.yaml"
        card.write_text(text)
        with pytest.raises(ValueError, match="detector card") as error:
            load_detector_card(card)
        assert "madagents-secret-hash" not in str(error.value)
        assert "root" not in str(error.value).replace(str(tmp_path), "")
