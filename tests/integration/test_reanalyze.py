"""``madagents reanalyze`` on a real Drell–Yan run: new cuts, observables and histograms from its events, with gates,
report, provenance and a reproduce.sh that passes ``validate``; refused for another process or changed events."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from madagents.cli import app
from madagents.runner import start_run
from madagents.settings import Settings
from madagents.workflow import load_workflow
from tests.conftest import DRELL_YAN

pytestmark = pytest.mark.slow

runner = CliRunner()
N_EVENTS = 300
NEW_ANALYSIS = {
    "objects": {"muons": {"collection": "muon", "pt_min_gev": 20}, "zs": {"z_candidates": "muons"}},
    "cuts": [{"count": "zs", "min": 1}, {"observable": "mass(zs[0])", "min": 66, "max": 116}],
    "histograms": [
        {"name": "m_z", "observable": "mass(zs[0])", "bins": 25, "range": [66, 116], "label": "$m_Z$"},
        {"name": "dphi", "observable": "dphi(muons[0], muons[1])", "bins": 16, "range": [0, 3.2], "label": "dphi"},
    ],
    "plots": {"normalisation": "cross_section"},
}


@pytest.fixture(autouse=True)
def _local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADAGENTS_SANDBOX", "local")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("source") / "run"
    workflow = load_workflow(DRELL_YAN, events=N_EVENTS, seed=11)
    start_run(workflow, out, Settings(sandbox="local"), ["madagents", "run", "test"])
    return out


def _workflow(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load(DRELL_YAN.read_text())
    data.update({"analysis": NEW_ANALYSIS, "checks": {"peaks": [{"histogram": "m_z", "particle": "Z0"}]}, **changes})
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_reanalysis_writes_new_histograms_that_validate(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "re"
    result = runner.invoke(app, ["reanalyze", str(source), str(_workflow(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "status.json").read_text())["state"] == "succeeded"
    assert {path.name for path in (out / "hists").iterdir()} == {
        f"{name}{suffix}" for name in ("m_z", "dphi") for suffix in (".json", ".png", ".values.npy")
    }
    assert not (out / "events").exists()  # nothing generated
    report = (out / "report.md").read_text()
    assert "### Cut flow" in report
    assert f"| all events | {N_EVENTS} |" in report
    assert "source/events/events.root" in (out / "reproduce.sh").read_text()
    validated = runner.invoke(app, ["validate", str(out), "--sandbox", "local", "--run-on-host"])
    assert validated.exit_code == 0, validated.output


def test_another_process_is_refused(source: Path, tmp_path: Path) -> None:
    other = _workflow(tmp_path, process={"name": "drell_yan", "final_state": ["mu+", "mu-"], "mass_min_gev": 70})
    result = runner.invoke(app, ["reanalyze", str(source), str(other), "--out", str(tmp_path / "re")])
    assert result.exit_code == 2
    assert "PhaseSpace:mHatMin = 70" in " ".join(result.output.split())
    assert not (tmp_path / "re").exists()


def test_changed_events_are_refused(source: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    with (copy / "events" / "events.root").open("ab") as events:
        events.write(b"x")
    result = runner.invoke(app, ["reanalyze", str(copy), str(_workflow(tmp_path)), "--out", str(tmp_path / "re")])
    assert result.exit_code == 2
    assert "the file changed after the run" in " ".join(result.output.split())
