from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from madagents.cli import app
from madagents.images import TOOLS_DIR, tools_sha256


def test_tools_hash_is_stable_and_follows_the_code(tmp_path: Path) -> None:
    copy = tmp_path / "tools"
    shutil.copytree(TOOLS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert tools_sha256(copy) == tools_sha256(TOOLS_DIR)
    (copy / "contract.py").write_text((copy / "contract.py").read_text() + "\n# changed\n")
    assert tools_sha256(copy) != tools_sha256(TOOLS_DIR)


def test_images_build_rejects_an_unknown_image() -> None:
    result = CliRunner().invoke(app, ["images", "build", "hpe"])
    assert result.exit_code == 2
    assert "unknown image 'hpe'; choose one of hep, hep-full" in result.output


def test_doctor_reports_the_local_stack() -> None:
    result = CliRunner().invoke(app, ["doctor", "--sandbox", "local"])
    assert result.exit_code == 0, result.output
    assert "Pythia8" in result.output
    assert "8.317.2" in result.output
    assert "MG5_aMC" in result.output


def test_hep_full_points_to_its_recipe() -> None:
    result = CliRunner().invoke(app, ["images", "build", "hep-full"])
    assert result.exit_code == 1
    assert "needs internet" in result.output
    assert "containers/hep-full/README.md" in " ".join(result.output.split())
