"""`bash reproduce.sh OUT` from a copied run directory, outside any venv, where the run was made.

A docker run's script runs each step in the run's image (by id) under the docker sandbox's policy; a local run's
uses the interpreter that made the run, with the environment its tools saw. Both regenerate the same histogram.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.reproduce import render_reproduce_script
from madagents.rundir import Provenance, RunInfo
from madagents.settings import Settings
from madagents.state import Plan

pytestmark = pytest.mark.slow

EVENTS = "200"
runner = CliRunner()


def _run(out: Path, backend: str) -> Path:
    args = ["run", "workflows/drell_yan.yaml", "--events", EVENTS, "--sandbox", backend, "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def _reproduce(run_dir: Path, tmp_path: Path, *variables: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A copy of the run, and its reproduce.sh run there as `env -i PATH=/usr/bin:/bin bash reproduce.sh OUT`."""
    copy = Path(shutil.copytree(run_dir, tmp_path / "copy"))
    completed = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", *variables, "bash", "reproduce.sh", "OUT"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )
    return copy, completed


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("local") / "run", "local")


@pytest.fixture(scope="module")
def docker_run(tmp_path_factory: pytest.TempPathFactory, docker_image: str) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MADAGENTS_IMAGE", docker_image)
        return _run(tmp_path_factory.mktemp("docker") / "run", "docker")


def test_a_local_run_reproduces_with_its_interpreter(local_run: Path, tmp_path: Path) -> None:
    copy, completed = _reproduce(local_run, tmp_path)
    assert completed.returncode == 0, completed.stderr
    host = Provenance.model_validate_json((local_run / "provenance.json").read_text()).tool_host
    assert host is not None
    assert f"the steps run with {host.python}, the interpreter that made the run" in completed.stdout
    assert (copy / "OUT/hists/m_mumu.json").read_bytes() == (local_run / "hists/m_mumu.json").read_bytes()


@pytest.mark.docker
def test_a_docker_run_reproduces_in_its_image(docker_run: Path, tmp_path: Path) -> None:
    copy, completed = _reproduce(docker_run, tmp_path)
    assert completed.returncode == 0, completed.stderr
    host = Provenance.model_validate_json((docker_run / "provenance.json").read_text()).tool_host
    assert host is not None
    assert host.image_id is not None
    assert host.image_id.startswith("sha256:")
    assert f"the steps run in image {host.image_id} under the docker sandbox's policy" in completed.stdout
    assert (copy / "OUT/hists/m_mumu.json").read_bytes() == (docker_run / "hists/m_mumu.json").read_bytes()
    assert (copy / "OUT/steps/01-generate/request.json").stat().st_uid == (copy / "reproduce.sh").stat().st_uid


@pytest.mark.docker
def test_a_step_over_the_time_limit_is_killed_with_its_container(docker_run: Path, tmp_path: Path) -> None:
    """As the docker sandbox kills a tool's container after settings.tool_timeout_s (TIMEOUT overrides the run's)."""
    host = Provenance.model_validate_json((docker_run / "provenance.json").read_text()).tool_host
    assert host is not None
    assert host.timeout_s == Settings().tool_timeout_s
    start = time.monotonic()
    # 50 000 events take Pythia8 minutes: the step cannot finish inside the limit however fast the machine
    copy, completed = _reproduce(docker_run, tmp_path, "TIMEOUT=2", "EVENTS=50000")
    assert completed.returncode == 1
    assert time.monotonic() - start < 30
    assert "killed after 2 s, the run's limit for one step" in " ".join(completed.stderr.split())
    assert "[madagents] killed: the tool ran longer than 2 s" in (copy / "OUT/steps/01-generate/log.txt").read_text()
    left = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--filter", "name=madagents-reproduce-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert left.stdout == ""


@pytest.mark.docker
def test_a_docker_run_without_a_daemon_reproduces_with_the_interpreter_that_made_it(
    docker_run: Path, tmp_path: Path
) -> None:
    copy, completed = _reproduce(docker_run, tmp_path, f"DOCKER_HOST=unix://{tmp_path}/no-daemon.sock")
    assert completed.returncode == 0, completed.stderr
    host = Provenance.model_validate_json((docker_run / "provenance.json").read_text()).tool_host
    assert host is not None
    assert f"no Docker answers here, so the steps run with {host.python}" in completed.stdout
    assert (copy / "OUT/hists/m_mumu.json").read_bytes() == (docker_run / "hists/m_mumu.json").read_bytes()


@pytest.mark.docker
def test_a_gone_image_is_named_with_how_to_rebuild_it(docker_run: Path, tmp_path: Path) -> None:
    """The run's image removed from the machine: what is missing, the build command, and the tag to give."""
    copy = Path(shutil.copytree(docker_run, tmp_path / "copy"))
    provenance = Provenance.model_validate_json((copy / "provenance.json").read_text())
    assert provenance.tool_host is not None
    gone = provenance.tool_host.model_copy(update={"image_id": "sha256:" + "0" * 64})
    plan = Plan.model_validate_json((copy / "plan.json").read_text())
    run_id = RunInfo.model_validate_json((copy / "run.json").read_text()).run_id
    (copy / "reproduce.sh").write_text(render_reproduce_script(plan, run_id, gone))
    completed = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", "bash", "reproduce.sh", "OUT"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    message = " ".join(completed.stderr.split())
    assert f"image {gone.image_id} is not on this machine" in message
    assert f"Rebuild it with `madagents images build hep` and run `IMAGE={gone.image} bash reproduce.sh OUT`" in message
    assert not (copy / "OUT/steps/01-generate/result.json").exists()


@pytest.mark.docker
def test_a_doctored_tool_host_fails_the_integrity_check(docker_run: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(docker_run, tmp_path / "copy"))
    provenance = Provenance.model_validate_json((copy / "provenance.json").read_text())
    assert provenance.tool_host is not None
    doctored = provenance.tool_host.model_copy(update={"image_id": "sha256:" + "1" * 64})
    (copy / "provenance.json").write_text(provenance.model_copy(update={"tool_host": doctored}).model_dump_json())
    result = runner.invoke(app, ["validate", str(copy), "--no-reproduce", "--sandbox", "local"])
    assert result.exit_code == 1
    assert "reproduce.sh is not the script plan.json and provenance.json render to" in " ".join(result.output.split())
