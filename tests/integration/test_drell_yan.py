"""The Drell–Yan workflow end to end: real Pythia8, uproot, hist, real ROOT, the reviewer's gates and reproduce.sh."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import hist
import hist.serialization
import numpy as np
import pytest
import uhi.io.json
import uproot
from typer.testing import CliRunner

from madagents.cli import app
from madagents.rundir import Provenance, RunDir
from madagents.runner import start_run
from madagents.settings import Settings
from madagents.validation import load_hist
from madagents.workflow import load_workflow
from madagents_tools.contract import sha256_file
from tests.conftest import DRELL_YAN, REPO

pytestmark = pytest.mark.slow

N_EVENTS = 2000
SEED = 4242
Z_MASS = 91.1876


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dy") / "run"
    workflow = load_workflow(DRELL_YAN, events=N_EVENTS, seed=SEED)
    start_run(workflow, out, Settings(verify_events=500, sandbox="local"), ["madagents", "run", "test"])
    return out


def test_run_succeeds_with_every_artifact(run_dir: Path) -> None:
    assert json.loads((run_dir / "status.json").read_text())["state"] == "succeeded"
    for name in [
        "plan.json",
        "assumptions.yaml",
        "provenance.json",
        "trace.jsonl",
        "report.md",
        "reproduce.sh",
        "events/events.root",
        "hists/m_mumu.json",
        "hists/m_mumu.png",
    ]:
        assert (run_dir / name).is_file(), name


def test_no_hepmc3_file_is_written_or_claimed_when_no_step_reads_it(run_dir: Path) -> None:
    # Delphes is the only reader of HepMC3 and the workflow does not ask for it: ~50 kB per event saved
    assert not list((run_dir / "events").glob("*.hepmc3*"))
    listed = [artifact["path"] for artifact in json.loads((run_dir / "provenance.json").read_text())["artifacts"]]
    assert "events/events.root" in listed
    assert not [path for path in listed if "hepmc" in path]
    assert "hepmc" not in (run_dir / "report.md").read_text().lower()


def test_peak_sits_at_the_z_mass_within_one_bin(run_dir: Path) -> None:
    histogram = load_hist(run_dir / "hists/m_mumu.json")
    centers, values = histogram.axes[0].centers, histogram.values()
    assert abs(centers[np.argmax(values)] - Z_MASS) <= histogram.axes[0].widths[0]
    assert 0.3 * N_EVENTS < values.sum() < N_EVENTS


def test_root_file_has_the_requested_events_for_uproot_and_real_root(run_dir: Path) -> None:
    with uproot.open(run_dir / "events/events.root") as file:
        assert file["events"].num_entries == N_EVENTS
    # A separate interpreter: ROOT's import is slow and installs its own signal handlers.
    code = (
        "import ROOT, sys; f = ROOT.TFile.Open(sys.argv[1]); t = f.Get('events'); "
        "print(t.GetEntries(), t.GetBranch('muon_pt') is not None)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, str(run_dir / "events/events.root")], capture_output=True, text=True, check=True
    ).stdout.split()
    assert output[-2:] == [str(N_EVENTS), "True"]


def test_histogram_json_round_trips(run_dir: Path) -> None:
    first = load_hist(run_dir / "hists/m_mumu.json")
    text = json.dumps(hist.serialization.to_uhi(first), default=uhi.io.json.default)
    assert hist.Hist(json.loads(text, object_hook=uhi.io.json.object_hook)) == first
    assert (first.axes[0].edges[0], first.axes[0].edges[-1], len(first.axes[0])) == (60, 120, 60)


def test_reviewer_signed_off_every_gate(run_dir: Path) -> None:
    report = (run_dir / "report.md").read_text()
    assert "signed off by the reviewer" in report
    assert "✗ FAIL" not in report
    for gate in [
        "event count",
        "cross section",
        "branching fractions",
        "fiducial cross section",
        "peak m_mumu",
        "plot m_mumu",
        "reproduce.sh",
    ]:
        assert f"| {gate} | ✓ pass |" in report


def test_cross_section_matches_pythia_reference(run_dir: Path) -> None:
    result = json.loads((run_dir / "steps/01-generate/result.json").read_text())
    # Measured: 1504 ± 20 pb (LO, m̂ > 60 GeV); 2000 events give a few per cent statistical precision.
    assert 1300 < result["sigma_pb"] < 1700
    assert f"{result['sigma_pb']:.5g}" in (run_dir / "report.md").read_text()


def test_provenance_hashes_every_artifact(run_dir: Path) -> None:
    provenance = RunDir(run_dir).read_model("provenance.json", Provenance)
    paths = {record.path for record in provenance.artifacts}
    assert {"events/events.root", "hists/m_mumu.json", "reproduce.sh", "report.md", "plan.json"} <= paths
    assert "hists/m_mumu.values.npy" in paths  # the unbinned values, for KS in `madagents compare`
    for record in provenance.artifacts:
        assert sha256_file(run_dir / record.path) == record.sha256, record.path
    assert provenance.run_seed == SEED
    assert provenance.packages["pythia8mc"] == "8.317.2"
    assert any("WeakSingleBoson" in line for line in provenance.generator_settings["01-generate"])


def test_trace_records_every_node_and_tool_call(run_dir: Path) -> None:
    events = RunDir(run_dir).trace_events()
    ended = [e.node for e in events if e.event == "node_end"]
    assert ended == ["planner", "installer", "generator", "analyst", "reviewer"]
    tools = [e.tool for e in events if e.event == "tool_call"]
    assert tools[:3] == ["environment", "pythia8_generate", "analyze"]
    assert all(e.seconds is not None for e in events if e.event != "node_start")
    generation = next(e for e in events if e.tool == "pythia8_generate")
    assert generation.cpu_seconds is not None
    assert generation.cpu_seconds > 0.5  # Pythia8 busy on 2000 events


def test_reproduce_script_recreates_the_histogram_in_a_fresh_directory(run_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(
        ["bash", str(run_dir / "reproduce.sh"), str(tmp_path / "again")],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    original = load_hist(run_dir / "hists/m_mumu.json")
    again = load_hist(tmp_path / "again/hists/m_mumu.json")
    assert np.array_equal(original.values(flow=True), again.values(flow=True))
    assert np.array_equal(original.variances(flow=True), again.variances(flow=True))


def test_reproduce_script_does_not_depend_on_the_repository(run_dir: Path) -> None:
    """Nothing runs from the checkout or the run directory; the checkout shows only as the interpreter that made the
    run (a venv inside the checkout, as `make` makes it) and its PYTHONPATH when the tests ran with one (the script
    sets the environment the tools saw)."""
    text = (run_dir / "reproduce.sh").read_text()
    in_checkout = [line for line in text.splitlines() if str(REPO) in line]
    assert all(line.strip().startswith("export PYTHONPATH=") or sys.executable in line for line in in_checkout)
    assert str(run_dir) not in text


@pytest.mark.docker
def test_docker_backend_gives_the_same_histogram(
    run_dir: Path, docker_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-madagents-never-leaks-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    workflow = load_workflow(DRELL_YAN, events=N_EVENTS, seed=SEED)
    settings = Settings(verify_events=500, sandbox="docker", image=docker_image)
    state = start_run(workflow, tmp_path / "docker", settings, ["madagents", "run", "test"])
    assert state.sandbox is not None
    assert state.sandbox.startswith(f"docker image {docker_image}")
    local, docker = load_hist(run_dir / "hists/m_mumu.json"), load_hist(tmp_path / "docker/hists/m_mumu.json")
    assert np.array_equal(local.values(flow=True), docker.values(flow=True))
    values = "hists/m_mumu.values.npy"  # the unbinned values too, byte for byte
    assert (run_dir / values).read_bytes() == (tmp_path / "docker" / values).read_bytes()
    generation = next(e for e in RunDir(tmp_path / "docker").trace_events() if e.tool == "pythia8_generate")
    assert generation.cpu_seconds is not None  # sampled from the container's cgroup
    assert generation.cpu_seconds > 0.5
    provenance = RunDir(tmp_path / "docker").read_model("provenance.json", Provenance)
    assert provenance.sandbox.startswith("docker image")
    leaked = [p for p in (tmp_path / "docker").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == []


def test_validate_signs_off_the_run_again(run_dir: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(run_dir), "--sandbox", "local", "--run-on-host"])
    assert result.exit_code == 0, result.output
    assert "✓ reproduce.sh" in result.output
    assert "✗" not in result.output


def test_validate_fails_a_corrupted_copy_without_a_traceback(run_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    events = broken / "events/events.root"
    events.write_bytes(events.read_bytes()[: events.stat().st_size // 2])
    (broken / "hists/m_mumu.png").unlink()
    result = CliRunner().invoke(app, ["validate", str(broken), "--no-reproduce", "--sandbox", "local"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    output = " ".join(result.output.split())
    assert "✗ event count: events.root cannot be read as ROOT" in output
    assert "✗ plot m_mumu: cannot read m_mumu's files" in output
    assert "✗ integrity: the run directory was changed after the run: events/events.root was changed" in output
    assert "hists/m_mumu.png is missing" in output
    assert "3 of 8 gates failed" in output
