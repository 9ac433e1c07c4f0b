"""The real MG5 → Pythia8 → Delphes chain under Docker in the hep-full image: the process-directory cache, one seed
through the whole chain, and bad input that must stop with the tool's own words."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import uproot
from typer.testing import CliRunner

from madagents.cli import app
from tests.conftest import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]
runner = CliRunner()
WORKFLOWS = REPO / "workflows"


@pytest.fixture
def docker_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hep_full_image: str) -> Path:
    monkeypatch.setenv("MADAGENTS_SANDBOX", "docker")
    monkeypatch.setenv("MADAGENTS_IMAGE_FULL", hep_full_image)
    monkeypatch.setenv("MADAGENTS_MG5_CACHE_DIR", str(tmp_path / "mg5-cache"))
    return tmp_path


def _run(workflow: Path, out: Path, *args: str) -> tuple[int, str, float]:
    start = time.monotonic()
    result = runner.invoke(app, ["run", str(workflow), "--out", str(out), *args])
    return result.exit_code, result.output, time.monotonic() - start


def test_a_second_mg5_run_reuses_the_compiled_process_and_gives_the_same_lhe(docker_env: Path) -> None:
    code, output, _ = _run(WORKFLOWS / "drell_yan_mg5.yaml", docker_env / "a", "--events", "200", "--seed", "12345")
    assert code == 0, output
    code, output, _ = _run(WORKFLOWS / "drell_yan_mg5.yaml", docker_env / "b", "--events", "200", "--seed", "12345")
    assert code == 0, output
    first, second = (json.loads((docker_env / n / "steps/01-mg5/result.json").read_text()) for n in ("a", "b"))
    assert (first["process_reused"], second["process_reused"]) == (False, True)
    assert second["generate_seconds"] == 0.0
    assert second["launch_seconds"] < first["generate_seconds"] + first["launch_seconds"]
    assert "reusing the compiled process directory" in (docker_env / "b/steps/01-mg5/log.txt").read_text()
    lhe = [(docker_env / n / "events/unweighted_events.lhe").read_bytes() for n in ("a", "b")]
    assert lhe[0] == lhe[1], "the same seed must give the same LHE bytes"


def test_delphes_with_the_atlas_card_gives_the_same_histograms_for_the_same_seed(docker_env: Path) -> None:
    # 200 events fill 2 GeV bins too thinly for the reviewer's peak gate (one bin from m_Z): 4 GeV bins here
    workflow = (WORKFLOWS / "drell_yan_delphes.yaml").read_text()
    assert "bins: 30" in workflow
    (docker_env / "w.yaml").write_text(workflow.replace("bins: 30", "bins: 15"))
    hists = []
    for name in ("a", "b"):
        code, output, _ = _run(docker_env / "w.yaml", docker_env / name, "--events", "200")
        assert code == 0, output
        hists.append((docker_env / name / "hists/m_mumu.json").read_text())
        report = (docker_env / name / "report.md").read_text()
        assert "b-tagging at pT 50 GeV" in report
        assert "muons: efficiency" in report
    assert hists[0] == hists[1]
    with uproot.open(docker_env / "a/events/detector.delphes.root") as delphes:
        assert delphes["Delphes"].num_entries == 200, "Delphes' own tree holds every event"
    with uproot.open(docker_env / "a/events/detector.root") as flat:
        assert flat["Delphes"].num_entries == 200
        assert "Muon.PT" in flat["Delphes"]
    values = json.loads(hists[0])["storage"]["values"][1:-1]  # 4 GeV bins from 60 GeV, without under/overflow
    assert sum(values) > 40, "about 30 % of the events have two selected muons in the window (60 of 200)"
    peak = 60 + 4 * values.index(max(values))
    assert peak == 88, f"the Z peak at detector level is in 88-92 GeV, not in {peak}-{peak + 4} GeV"


def test_ttbar_emu_runs_from_mg5_through_delphes(docker_env: Path) -> None:
    code, output, _ = _run(WORKFLOWS / "ttbar_emu_delphes.yaml", docker_env / "tt", "--events", "200")
    assert code == 0, output
    run = docker_env / "tt"
    hard = json.loads((run / "steps/01-mg5/result.json").read_text())
    # MG5 3.5.7 at this run seed gave 5.76945 pb when tests/fixtures/mg5/pp_ttbar_emu was recorded (same process
    # lines, Γ_t and 200 events as ttbar_emu_mg5.yaml, whose run seed this workflow shares)
    assert hard["sigma_pb"] == pytest.approx(5.76945, rel=1e-6)
    with uproot.open(run / "events/detector.root") as flat:
        assert flat["Delphes"].num_entries == 200
    analysis = json.loads((run / "steps/04-analyze/result.json").read_text())
    # e⁺μ⁻ with isolation, two jets and a b-tag at detector level: fewer than the particle level's third (Delphes'
    # lepton efficiencies and b-tagging at ~70 % per b-jet); this run selects 27
    assert 0.05 < analysis["n_selected"] / 200 < 0.3
    n_bjets = json.loads((run / "hists/n_bjets.json").read_text())["storage"]["values"]
    assert n_bjets[:2] == [0.0, 0.0], "no selected event without a b-tagged jet (underflow, N_b = 0)"
    assert "b-tagging at pT 50 GeV" in (run / "report.md").read_text()


def test_a_missing_delphes_card_is_an_input_error(docker_env: Path) -> None:
    workflow = (WORKFLOWS / "drell_yan_delphes.yaml").read_text().replace("card: atlas", "card: nowhere.tcl")
    (docker_env / "w.yaml").write_text(workflow)
    code, output, _ = _run(docker_env / "w.yaml", docker_env / "run")
    assert code == 2
    assert "Delphes card 'nowhere.tcl' does not exist" in " ".join(output.split())


@pytest.mark.parametrize(
    ("process", "said"),
    [("p p > mu+ mu- zz", "No particle zz in model"), ("p p > > mu+", "is a wrong process format")],
)
def test_a_bad_mg5_process_fails_quoting_mg5(docker_env: Path, process: str, said: str) -> None:
    workflow = (WORKFLOWS / "drell_yan_mg5.yaml").read_text().replace("p p > mu+ mu-", process)
    (docker_env / "w.yaml").write_text(workflow)
    code, output, _ = _run(docker_env / "w.yaml", docker_env / "run", "--events", "50")
    assert code == 1, output
    status = json.loads((docker_env / "run/status.json").read_text())
    assert status["state"] == "failed"
    assert "MG5 step 'generate' failed" in status["error"]
    assert said in status["error"]
    assert not (docker_env / "run/hists").exists() or not list((docker_env / "run/hists").iterdir())


def test_a_model_that_is_not_found_fails_quoting_mg5(docker_env: Path) -> None:
    workflow = (WORKFLOWS / "drell_yan_mg5.yaml").read_text().replace("model: sm", "model: no_such_model")
    (docker_env / "w.yaml").write_text(workflow)
    code, output, _ = _run(docker_env / "w.yaml", docker_env / "run", "--events", "50")
    assert code == 1, output
    status = json.loads((docker_env / "run/status.json").read_text())
    assert "no_such_model" in status["error"]
    assert "Model not found" in status["error"]
    assert not (docker_env / "run/events").exists() or not list((docker_env / "run/events").iterdir())


def test_a_ufo_that_fails_to_load_fails_quoting_mg5(docker_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = docker_env / "models" / "broken_UFO"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("import particles\n")
    (broken / "particles.py").write_text("this is not python (\n")
    monkeypatch.setenv("MADAGENTS_MODELS_DIR", str(docker_env / "models"))
    workflow = (WORKFLOWS / "drell_yan_mg5.yaml").read_text().replace("model: sm", "model: broken_UFO")
    (docker_env / "w.yaml").write_text(workflow)
    code, output, _ = _run(docker_env / "w.yaml", docker_env / "run", "--events", "50")
    assert code == 1, output
    error = json.loads((docker_env / "run/status.json").read_text())["error"]
    assert "broken_UFO directory is not a valid UFO model" in error, error
    assert "\n" not in error, "one paragraph"
    assert not (docker_env / "run/events").exists() or not list((docker_env / "run/events").iterdir())
