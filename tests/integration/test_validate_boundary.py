"""What `madagents validate` executes: a received run directory is data, its reproduce.sh runs only in a container.

The backend comes from the settings (docker when a daemon answers), never from the run's own run.json; without
a container, re-executing reproduce.sh needs --run-on-host, typed by the user.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.runner import open_context
from madagents.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("validate") / "run"
    args = ["run", "workflows/drell_yan.yaml", "--events", "200", "--sandbox", "local", "--out", str(run_dir)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return run_dir


def test_reproduce_sh_does_not_run_on_the_host_unless_asked(good_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(good_run, copy)
    shutil.rmtree(copy / "verify")
    result = CliRunner().invoke(app, ["validate", str(copy), "--sandbox", "local"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "validate would re-execute" in message
    assert "as your user, with your files" in message
    assert "--run-on-host" in message
    assert "Traceback" not in result.output
    assert not (copy / "verify").exists()
    asked = CliRunner().invoke(app, ["validate", str(copy), "--sandbox", "local", "--run-on-host"])
    assert asked.exit_code == 0, asked.output
    assert (copy / "verify/reproduced/hists/m_mumu.json").is_file()


def test_without_reproduce_nothing_runs_and_no_flag_is_needed(good_run: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(good_run), "--sandbox", "local", "--no-reproduce"])
    assert result.exit_code == 0, result.output


@pytest.mark.docker
def test_the_backend_never_comes_from_the_run_directory(
    good_run: Path, tmp_path: Path, docker_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run.json is the run's own bookkeeping: one that says `local` still validates in a container."""
    monkeypatch.setenv("MADAGENTS_IMAGE", docker_image)
    monkeypatch.delenv("MADAGENTS_SANDBOX", raising=False)
    copy = tmp_path / "copy"
    shutil.copytree(good_run, copy)
    info = json.loads((copy / "run.json").read_text())
    assert info["sandbox"] == "local"
    ctx = open_context(copy, Settings(), ["test"], reproduce=True)
    assert ctx.sandbox.name == "docker"
    result = CliRunner().invoke(app, ["validate", str(copy)])
    assert result.exit_code == 0, result.output
    assert "✓ reproduce.sh" in result.output
