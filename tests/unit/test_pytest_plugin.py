"""The pytest plugin, run as a user runs it: pytest in a directory of regression specs and goldens."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

from tests.compare_samples import write_golden_dir
from tests.conftest import REPO

SPECS = """\
regressions:
  - {name: same_physics, run: runs/seed2, golden: goldens/dy}
  - {name: moved_z, run: runs/mz94, golden: goldens/dy}
"""


def _pytest(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # installed, the entry point loads the plugin; from a checkout that is not installed, -p does
    installed = any(point.value == "madagents.pytest_plugin" for point in entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "madagents.pytest_plugin"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "--rootdir", str(where), *args]
    return subprocess.run(command, cwd=where, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_help_shows_the_plugin_options(tmp_path: Path) -> None:
    shown = _pytest(tmp_path, "--help").stdout
    assert "--madagents-update-golden" in shown
    assert "--madagents-sandbox" in shown


def test_specs_bless_then_compare_with_junit(tmp_path: Path) -> None:
    write_golden_dir(tmp_path / "runs" / "seed1", seed=1)
    write_golden_dir(tmp_path / "runs" / "seed2", seed=2)
    write_golden_dir(tmp_path / "runs" / "mz94", seed=3, mass=94.0)
    (tmp_path / "regression_dy.yaml").write_text(SPECS)
    unblessed = _pytest(tmp_path, "regression_dy.yaml")
    assert unblessed.returncode == 1
    assert "no golden at" in unblessed.stdout
    (tmp_path / "bless.yaml").write_text("regressions:\n  - {name: dy, run: runs/seed1, golden: goldens/dy}\n")
    (tmp_path / "bless.yaml").rename(tmp_path / "regression_bless.yaml")
    blessed = _pytest(tmp_path, "regression_bless.yaml", "--madagents-update-golden")
    assert blessed.returncode == 0, blessed.stdout
    assert (tmp_path / "goldens" / "dy" / "golden.json").is_file()
    compared = _pytest(tmp_path, "regression_dy.yaml", "--junitxml", str(tmp_path / "junit.xml"))
    assert compared.returncode == 1, compared.stdout
    assert "moved_z: incompatible with the golden" in compared.stdout
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    assert {case.get("name"): case.find("failure") is not None for case in cases} == {
        "same_physics": False,
        "moved_z": True,
    }
