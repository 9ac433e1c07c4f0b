"""`madagents compare` on real Drell–Yan runs: two seeds agree (exit 0), the Z moved to 94 GeV does not (exit 1),
and the JUnit XML fails only the second comparison."""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.errors import RunFailedError
from madagents.runner import start_run
from madagents.settings import Settings
from madagents.workflow import load_workflow
from tests.conftest import DRELL_YAN

pytestmark = pytest.mark.slow

N_EVENTS = 1000
"""About 380 selected events: a 3 GeV shift of the peak gives χ² ≈ 200 on ~50 ndf, two seeds χ² ≈ ndf."""


def _run(workflow: Path, seed: int, out: Path) -> Path:
    settings = Settings(verify_events=100, sandbox="local")
    # the moved Z fails the reviewer's peak gate (it expects m(Z0)); its histograms are still written and compared
    with contextlib.suppress(RunFailedError):
        start_run(load_workflow(workflow, events=N_EVENTS, seed=seed), out, settings, ["madagents", "run", "test"])
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("compare")
    moved = where / "drell_yan_mz94.yaml"
    text = DRELL_YAN.read_text().replace(
        "  hadronisation: true\n", '  hadronisation: true\n  settings: ["23:m0 = 94.0"]\n'
    )
    moved.write_text(text)
    return {
        "seed1": _run(DRELL_YAN, 1, where / "seed1"),
        "seed2": _run(DRELL_YAN, 2, where / "seed2"),
        "mz94": _run(moved, 3, where / "mz94"),
    }


def test_two_seeds_compatible_moved_z_not(runs: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    same = runner.invoke(app, ["compare", str(runs["seed1"]), str(runs["seed2"]), "--junit", str(tmp_path / "a.xml")])
    outputs = ["--junit", str(tmp_path / "b.xml"), "--json", str(tmp_path / "b.json")]
    moved = runner.invoke(app, ["compare", str(runs["mz94"]), str(runs["seed2"]), *outputs])
    assert same.exit_code == 0, same.output
    assert moved.exit_code == 1, moved.output
    assert ET.parse(tmp_path / "a.xml").getroot().findall(".//failure") == []
    failed = [case.get("name") for case in ET.parse(tmp_path / "b.xml").getroot().findall(".//testcase[failure]")]
    assert "m_mumu" in failed
    # Pythia8's events have equal weights, so the runs' unbinned values give KS next to χ²
    ks = {item["name"]: item["ks_p_value"] for item in json.loads((tmp_path / "b.json").read_text())["histograms"]}
    assert ks["m_mumu"] < 1e-6
