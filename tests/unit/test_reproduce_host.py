"""reproduce.sh runs the steps where the run ran them: the docker flags are the sandbox's, the fall-backs speak up."""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

import pytest

from madagents.agents.planner import plan_reanalysis, plan_workflow
from madagents.reanalysis_spec import Reanalysis, SourceRun
from madagents.reproduce import render_reproduce_script
from madagents.sandbox.docker import cli_flags, container_policy
from madagents.sandbox.host import DockerLimits, ToolHost
from madagents.workflow import load_workflow
from tests.conftest import DRELL_YAN

GONE_PYTHON = "/nonexistent/venv/bin/python"


def _docker_host(**changes: object) -> ToolHost:
    host = ToolHost(
        backend="docker",
        python=GONE_PYTHON,
        image="madagents/hep:latest",
        image_kind="hep",
        image_id="sha256:" + "0" * 64,
        limits=DockerLimits(memory_mb=1024),
    )
    return host.model_copy(update=changes)


def _run(script: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The script with an environment as bare as `env -i`, where no Docker daemon answers."""
    return subprocess.run(
        ["bash", str(script), str(tmp_path / "out")],
        env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_argument_of_the_container_policy_has_its_docker_run_flag() -> None:
    flags = cli_flags(container_policy(DockerLimits(cpus=1.5, memory_mb=1024, pids=64, tmp_mb=128), ".", models=True))
    pairs = set(itertools.pairwise(flags))
    assert {("--network", "none"), ("--cap-drop", "ALL"), ("--security-opt", "no-new-privileges")} <= pairs
    assert {("--cpus", "1.5"), ("--memory", "1024m"), ("--memory-swap", "1024m"), ("--pids-limit", "64")} <= pairs
    assert {
        ("--tmpfs", "/tmp:rw,size=128m"),
        ("--workdir", "/work"),
        ("--env", "MADAGENTS_MODELS_DIR=/models"),
    } <= pairs
    assert "--read-only" in flags
    with pytest.raises(ValueError, match=r"privileged=True has no docker run flag"):
        cli_flags({"privileged": True})


def test_a_docker_run_script_carries_the_sandbox_policy(tmp_path: Path) -> None:
    plan = plan_workflow(load_workflow(DRELL_YAN))
    script = tmp_path / "reproduce.sh"
    script.write_text(render_reproduce_script(plan, "run", _docker_host()))
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    text = script.read_text()
    assert "--network none" in text
    assert "--memory 1024m" in text
    assert (
        "run_step 01-generate pythia8_generate madagents_tools.generation.pythia8_generate events steps/01-generate"
        in (text)
    )


def test_without_a_daemon_the_run_s_interpreter_is_used_and_a_gone_one_is_named(tmp_path: Path) -> None:
    """Shell syntax in the recorded host (a doctored provenance.json) stays data on every path."""
    plan = plan_workflow(load_workflow(DRELL_YAN))
    host = _docker_host(image=f"x$(touch {tmp_path}/pwned-image)", docker_cli=f"/nonexistent/$(touch {tmp_path}/pwned)")
    script = tmp_path / "reproduce.sh"
    script.write_text(render_reproduce_script(plan, "run", host))
    completed = _run(script, tmp_path)
    assert completed.returncode == 1
    message = " ".join(completed.stderr.split())
    assert f"{GONE_PYTHON}, the interpreter that made the run, is gone" in message
    assert "PYTHON=/path/to/python bash reproduce.sh OUT" in message
    assert "or where the run's image and Docker are" in message
    assert sorted(path.name for path in tmp_path.glob("pwned*")) == []


def test_a_local_run_s_script_sets_the_environment_its_tools_saw(tmp_path: Path) -> None:
    plan = plan_workflow(load_workflow(DRELL_YAN))
    host = ToolHost(backend="local", python=GONE_PYTHON, environment={"MG5_PATH": "/opt/MG5 it's here"})
    text = render_reproduce_script(plan, "run", host)
    assert "export MG5_PATH='/opt/MG5 it'\"'\"'s here'" in text
    assert "unset PYTHONPATH" in text
    assert "docker" not in text
    script = tmp_path / "reproduce.sh"
    script.write_text(text)
    completed = _run(script, tmp_path)
    assert completed.returncode == 1
    assert f"{GONE_PYTHON}, the interpreter that made the run, is gone" in " ".join(completed.stderr.split())


def test_events_must_be_a_count(tmp_path: Path) -> None:
    script = tmp_path / "reproduce.sh"
    script.write_text(render_reproduce_script(plan_workflow(load_workflow(DRELL_YAN)), "run", _docker_host()))
    completed = subprocess.run(
        ["bash", str(script), str(tmp_path / "out")],
        env={"PATH": "/usr/bin:/bin", "EVENTS": "10; rm -rf ~"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert "EVENTS must be a positive whole number, not '10; rm -rf ~'" in completed.stderr


def test_a_step_over_the_run_s_time_limit_is_killed_with_its_children(tmp_path: Path) -> None:
    """As the sandbox kills a tool after settings.tool_timeout_s; the stand-in interpreter hangs with a child."""
    child_pid = tmp_path / "child.pid"
    hanging = tmp_path / "hanging-python"
    hanging.write_text(f"#!/bin/bash\nsleep 60 &\necho $! > {child_pid}\nwait\n")
    hanging.chmod(0o755)
    host = ToolHost(backend="local", python=str(hanging), timeout_s=1.5)
    script = tmp_path / "reproduce.sh"
    script.write_text(render_reproduce_script(plan_workflow(load_workflow(DRELL_YAN)), "run", host))
    start = time.monotonic()
    completed = _run(script, tmp_path)
    assert completed.returncode == 1
    assert time.monotonic() - start < 15
    message = " ".join(completed.stderr.split())
    assert "killed after 2 s, the run's limit for one step; TIMEOUT=SECONDS allows longer" in message  # whole seconds
    assert "step 01-generate failed" in message
    log = (tmp_path / "out/steps/01-generate/log.txt").read_text()
    assert "[madagents] killed: the tool ran longer than 2 s" in log
    assert not _alive(int(child_pid.read_text()))


def _alive(pid: int) -> bool:
    """Running, not a zombie (a killed orphan waits for an init that may never reap it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_the_time_limit_can_be_raised_and_must_be_a_count(tmp_path: Path) -> None:
    host = ToolHost(backend="local", python=GONE_PYTHON, timeout_s=3600)
    script = tmp_path / "reproduce.sh"
    script.write_text(render_reproduce_script(plan_workflow(load_workflow(DRELL_YAN)), "run", host))
    assert 'LIMIT="${TIMEOUT:-3600}"' in script.read_text()
    completed = subprocess.run(
        ["bash", str(script), str(tmp_path / "out")],
        env={"PATH": "/usr/bin:/bin", "TIMEOUT": "1h"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert "TIMEOUT must be a positive whole number of seconds, not '1h'" in completed.stderr


def test_a_run_made_before_the_limit_was_recorded_renders_its_script_unchanged() -> None:
    """No limit in provenance.json: the script has none either, so the integrity check still matches it."""
    text = render_reproduce_script(plan_workflow(load_workflow(DRELL_YAN)), "run", _docker_host())
    assert "TIMEOUT" not in text
    assert '"$DOCKER" run --rm --user' in text


@pytest.mark.parametrize("run_dir_from_script", ["", ".."])
def test_a_reanalysis_script_is_valid_bash(tmp_path: Path, run_dir_from_script: str) -> None:
    source = SourceRun(
        path="/runs/dy",
        run_id="dy",
        events_path="events/events.root",
        events_sha256="0" * 64,
        generation_result_path="steps/01-generate/result.json",
        generation_sha256="1" * 64,
        n_events=100,
    )
    plan = plan_reanalysis(Reanalysis(name="dy-again", workflow=load_workflow(DRELL_YAN), source=source))
    script = tmp_path / "reproduce.sh"
    script.write_text(
        render_reproduce_script(plan, "dy-again", _docker_host(), run_dir_from_script=run_dir_from_script)
    )
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "stage_source /runs/dy events/events.root" in script.read_text()
