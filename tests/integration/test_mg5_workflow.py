"""The MadGraph5 chain end to end: MG5 → Pythia8 shower of its LHE events → analysis → gates → reproduce.sh.

Without MG5 here, MG5 is played by the stand-in of tests/fake_mg5.py, which answers with the recorded output of
MG5 3.5.7 (tests/fixtures/mg5/pp_mumu); everything after MG5 is real. The chain with the real MadGraph5_aMC@NLO
runs in test_mg5_delphes_docker.py (hep-full), and the MG5 tool on a host installation in test_real_generators.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from madagents.errors import RunFailedError
from madagents.rundir import RunDir
from madagents.runner import start_run
from madagents.settings import Settings
from madagents.workflow import load_workflow
from madagents_tools.generation import mg5_generate, pythia8_generate
from tests.conftest import REPO
from tests.fake_mg5 import install_fake_mg5

pytestmark = pytest.mark.slow

WORKFLOW = REPO / "workflows" / "drell_yan_mg5.yaml"
RECORDED = REPO / "tests" / "fixtures" / "mg5" / "pp_mumu"
RECORDED_SIGMA_PB = 649.695
N_EVENTS = 200


def _run(out: Path) -> Path:
    workflow = load_workflow(WORKFLOW, events=N_EVENTS, seed=12345)
    start_run(workflow, out, Settings(sandbox="local"), ["madagents", "run", "test"])
    return out


@pytest.fixture(scope="module")
def recorded_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("mg5_chain")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("MG5_PATH", str(install_fake_mg5(base / "fake-mg5", RECORDED)))
        return _run(base / "run")


def test_the_shower_reads_mg5s_events_and_keeps_its_cross_section(recorded_chain: Path) -> None:
    hard = mg5_generate.Result.model_validate_json((recorded_chain / "steps/01-mg5/result.json").read_text())
    shower = pythia8_generate.Result.model_validate_json((recorded_chain / "steps/02-shower/result.json").read_text())
    assert (hard.sigma_pb, hard.n_events) == (RECORDED_SIGMA_PB, N_EVENTS)
    assert shower.n_events == N_EVENTS
    assert shower.sigma_pb == pytest.approx(RECORDED_SIGMA_PB, rel=1e-9)


def test_every_gate_passes_including_banner_and_reproduction(recorded_chain: Path) -> None:
    assert RunDir(recorded_chain).status().state == "succeeded"
    report = (recorded_chain / "report.md").read_text()
    for gate in ("cross section vs banner", "event count (01-mg5)", "event count (02-shower)", "peak m_mumu"):
        assert f"| {gate} | ✓ pass |" in report
    assert "| reproduce.sh | ✓ pass | identical histograms and events from all 200 events |" in report
    assert "(`tools/generation/mg5_generate.py`, step `steps/01-mg5/`)" in report  # the source a reader can open


def test_mg5s_choices_are_in_the_assumptions(recorded_chain: Path) -> None:
    assumptions = (recorded_chain / "assumptions.yaml").read_text()
    assert "MadGraph5_aMC@NLO, model sm: p p > mu+ mu-" in assumptions
    assert "nn23lo1" in assumptions


def test_a_missing_mg5_stops_the_run_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MG5_PATH", raising=False)
    monkeypatch.setenv("PATH", os.defpath)  # no mg5_aMC on it either
    with pytest.raises(RunFailedError, match="MG5 not available in this sandbox — build hep-full or set MG5_PATH"):
        _run(tmp_path / "run")
