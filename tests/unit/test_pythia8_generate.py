"""The Pythia8 generation tool with real Pythia8, pyhepmc, uproot and fastjet on small event samples."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyhepmc
import pytest
import uproot

from madagents_tools.contract import PROGRESS_PREFIX, sha256_file
from madagents_tools.generation import pythia8_generate
from madagents_tools.generation.pythia8_generate import JetDefinition, Request, Result, run
from madagents_tools.io import batch_pipe, final_state_writer
from madagents_tools.io.final_state_writer import FinalStateWriter
from madagents_tools.io.hepmc_writer import HepmcWriter
from tests.conftest import DRELL_YAN_PYTHIA, REPO

TTBAR = ["Beams:eCM = 13000", "Top:gg2ttbar = on", "Top:qqbar2ttbar = on"]
N_EVENTS = 150
BATCH = 40  # does not divide N_EVENTS: the last batch is a partial one
SEED = 4242
MUON_MASS = 0.10566
LEPTON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "iso")


@dataclass
class Run:
    directory: Path
    result: Result

    def tree(self) -> Any:
        with uproot.open(self.directory / "events/events.root") as file:
            return file["events"].arrays()

    def hepmc(self) -> list[pyhepmc.GenEvent]:
        with pyhepmc.open(self.directory / "events/events.hepmc3") as file:
            return list(file)


def generate(directory: Path, request: Request) -> Run:
    directory.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        return Run(directory, run(request))


def drell_yan(**changes: Any) -> Request:
    fields: dict[str, Any] = {"settings": DRELL_YAN_PYTHIA, "n_events": N_EVENTS, "seed": SEED, "batch_size": BATCH}
    return Request(**(fields | changes))


@pytest.fixture(scope="module")
def dy(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return generate(tmp_path_factory.mktemp("dy"), drell_yan(resonances=[23]))


@pytest.fixture(scope="module")
def dy_again(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return generate(tmp_path_factory.mktemp("dy_again"), drell_yan(resonances=[23]))


@pytest.fixture(scope="module")
def ttbar(tmp_path_factory: pytest.TempPathFactory) -> Run:
    request = Request(settings=TTBAR, n_events=20, seed=SEED, jets=JetDefinition(radius=0.4, pt_min_gev=20.0))
    return generate(tmp_path_factory.mktemp("ttbar"), request)


def test_drell_yan_succeeds_with_both_files_recorded(dy: Run) -> None:
    result = dy.result
    assert result.ok, result.error
    assert (result.n_events, result.seed) == (N_EVENTS, SEED)
    assert result.n_tried >= N_EVENTS
    assert result.generation_seconds > 0
    assert {"pythia8mc", "pyhepmc", "uproot", "awkward", "numpy"} <= result.versions.keys()
    assert "fastjet" not in result.versions
    assert [(f.path, f.kind, f.n_events) for f in result.files] == [
        ("events/events.hepmc3", "hepmc3", N_EVENTS),
        ("events/events.root", "root", N_EVENTS),
    ]
    for record in result.files:
        assert sha256_file(dy.directory / record.path) == record.sha256
    assert not list((dy.directory / "events").glob("*.part")), "temporary files left behind"


def test_cross_section_is_near_the_measured_value(dy: Run) -> None:
    assert dy.result.sigma_pb is not None
    assert dy.result.sigma_err_pb is not None
    assert 1000 < dy.result.sigma_pb < 2100
    assert 0 < dy.result.sigma_err_pb < 0.2 * dy.result.sigma_pb


def test_root_tree_holds_every_event_with_the_documented_branches(dy: Run) -> None:
    with uproot.open(dy.directory / "events/events.root") as file:
        tree = file["events"]
        assert tree.classname == "TTree"
        assert tree.num_entries == N_EVENTS
        branches = set(tree.keys())
    per_event = {"event_number", "weight", "mhat", "met_pt", "met_phi"}
    leptons = {f"{name}_{field}" for name in ("muon", "electron") for field in LEPTON_FIELDS} | {"nmuon", "nelectron"}
    photons = {f"photon_{field}" for field in ("pt", "eta", "phi", "mass", "iso")} | {"nphoton"}
    taus = {f"tau_{field}" for field in ("pt", "eta", "phi", "mass", "charge")} | {"ntau"}
    assert branches == per_event | leptons | photons | taus, "jet branches appear only when jets are requested"
    events = dy.tree()
    assert events.event_number.tolist() == list(range(N_EVENTS))
    assert np.all(events.weight == 1.0)
    assert np.all(events.mhat > 60)
    assert 85 < np.median(events.mhat) < 97, "m̂ of Z/γ* → μμ peaks at the Z mass"


def test_most_events_have_two_opposite_charge_isolated_muons(dy: Run) -> None:
    events = dy.tree()
    assert ak.all(events.muon_pt[:, :-1] >= events.muon_pt[:, 1:]), "muons not sorted by decreasing pT"
    assert ak.all(abs(events.muon_mass - MUON_MASS) < 1e-4)
    assert ak.all(events.muon_iso >= 0)
    pairs = events[events.nmuon >= 2]
    opposite = np.asarray(pairs.muon_charge[:, 0] * pairs.muon_charge[:, 1] < 0)
    assert np.count_nonzero(opposite) > 0.8 * N_EVENTS
    isolated = np.asarray(ak.sum(pairs.muon_iso < 0.15, axis=1) == 2)
    assert np.count_nonzero(isolated) > 0.6 * N_EVENTS


def test_hepmc_holds_beams_and_the_complete_final_state(dy: Run) -> None:
    events = dy.hepmc()
    assert len(events) == N_EVENTS
    root = dy.tree()
    for number, event in enumerate(events):
        assert event.event_number == number
        assert (event.momentum_unit, event.length_unit) == (pyhepmc.Units.GEV, pyhepmc.Units.MM)
        assert len(event.vertices) == 1
        particles = event.numpy.particles
        status = np.asarray(particles.status)
        assert status[:2].tolist() == [4, 4]
        # the rest is the final state and, as decayed (2), the history's c and b quarks for Delphes' jet flavour
        assert np.all(np.isin(status[2:], (1, 2)))
        assert np.all(np.isin(abs(np.asarray(particles.pid)[status == 2]), (4, 5)))
        assert np.asarray(particles.pid)[:2].tolist() == [2212, 2212]
        # every final-state particle is there when the final state carries the beams' total four-momentum
        momenta = np.stack([np.asarray(getattr(particles, c)) for c in ("px", "py", "pz", "e")], axis=1)
        assert np.allclose(momenta[status == 1].sum(axis=0), momenta[:2].sum(axis=0), atol=1e-3)
        # the muons of the TTree are the HepMC muons above the lepton pT threshold, hardest first
        pid, pt = np.asarray(particles.pid), np.hypot(momenta[:, 0], momenta[:, 1])
        muons = np.flatnonzero((abs(pid) == 13) & (status == 1) & (pt > 5.0))
        muons = muons[np.argsort(-pt[muons])]
        assert np.allclose(pt[muons], root.muon_pt[number].to_numpy())
        assert (-np.sign(pid[muons])).tolist() == root.muon_charge[number].tolist()
        assert event.cross_section is not None
        assert 1000 < event.cross_section.xsec() < 2100


def test_decay_table_of_the_z_sums_to_one_with_only_the_muon_channel_on(dy: Run) -> None:
    [table] = dy.result.decay_tables
    assert table.pdg_id == 23
    assert math.isclose(sum(channel.branching_ratio for channel in table.channels), 1.0, abs_tol=1e-6)
    assert [channel.products for channel in table.channels if channel.on] == [[13, -13]]


def test_the_same_seed_reproduces_the_files(dy: Run, dy_again: Run) -> None:
    assert dy_again.result.ok, dy_again.result.error
    hepmc = "events/events.hepmc3"
    assert (dy.directory / hepmc).read_bytes() == (dy_again.directory / hepmc).read_bytes()
    first, second = dy.tree(), dy_again.tree()
    assert first.fields == second.fields
    for branch in first.fields:
        assert first[branch].tolist() == second[branch].tolist(), branch
    assert dy.result.sigma_pb == dy_again.result.sigma_pb


def test_without_hepmc3_the_same_events_go_to_the_root_file_alone(dy: Run, tmp_path: Path) -> None:
    alone = generate(tmp_path, drell_yan(resonances=[23], hepmc_path=None))
    assert alone.result.ok, alone.result.error
    assert [record.kind for record in alone.result.files] == ["root"]
    assert not (tmp_path / "events/events.hepmc3").exists()
    assert alone.tree().mhat.tolist() == dy.tree().mhat.tolist()  # the writer never touches the generation
    assert alone.result.sigma_pb == dy.result.sigma_pb


def test_another_seed_gives_other_events(dy: Run, tmp_path: Path) -> None:
    other = generate(tmp_path, drell_yan(seed=SEED + 1, n_events=30))
    assert other.result.ok, other.result.error
    assert other.tree().mhat.tolist() != dy.tree().mhat.tolist()[:30]


def test_ttbar_jets_are_clustered_and_b_tagged(ttbar: Run) -> None:
    assert ttbar.result.ok, ttbar.result.error
    assert "fastjet" in ttbar.result.versions
    events = ttbar.tree()
    assert len(events) == 20
    assert {"njet", "jet_pt", "jet_eta", "jet_phi", "jet_mass", "jet_btag"} <= set(events.fields)
    assert ak.all(events.jet_pt > 20.0)
    assert ak.all(events.jet_pt[:, :-1] >= events.jet_pt[:, 1:]), "jets not sorted by decreasing pT"
    assert np.count_nonzero(np.asarray(events.njet) >= 2) >= 15
    # two b quarks per event, not always inside the acceptance or near a jet
    assert 1.0 <= ak.sum(events.jet_btag) / len(events) <= 2.5
    assert set(ak.flatten(events.jet_btag).tolist()) <= {0, 1}
    assert np.mean(np.asarray(events.met_pt)) > 10.0, "tt̄ events carry neutrinos from W decays"


def test_isolated_muons_are_kept_out_of_the_jets(tmp_path: Path) -> None:
    outcome = generate(tmp_path, drell_yan(n_events=40, jets=JetDefinition(pt_min_gev=10.0)))
    assert outcome.result.ok, outcome.result.error
    events = outcome.tree()
    isolated = events.muon_iso < 0.15
    muons = ak.zip({"pt": events.muon_pt, "eta": events.muon_eta, "phi": events.muon_phi})[isolated]
    jets = ak.zip({"pt": events.jet_pt, "eta": events.jet_eta, "phi": events.jet_phi})
    muon, jet = ak.unzip(ak.cartesian([muons, jets], axis=1, nested=True))
    distance = np.hypot(muon.eta - jet.eta, (muon.phi - jet.phi + np.pi) % (2 * np.pi) - np.pi)
    assert ak.sum(ak.num(muons)) > 60
    assert ak.sum(ak.num(jets)) > 0
    # a jet holding the muon would be at least about as hard as the muon; nearby radiation alone is much softer
    assert not ak.any((distance < 0.1) & (jet.pt > 0.5 * muon.pt)), "an isolated muon was clustered into a jet"


def test_a_rejected_setting_is_named_in_the_error(tmp_path: Path) -> None:
    outcome = generate(tmp_path, drell_yan(settings=[*DRELL_YAN_PYTHIA, "WeakSingleBoson:ffbar2gmZZ = on"]))
    assert not outcome.result.ok
    assert outcome.result.error is not None
    assert "'WeakSingleBoson:ffbar2gmZZ = on'" in outcome.result.error
    assert not (tmp_path / "events").exists()


def test_a_failed_init_is_reported(tmp_path: Path) -> None:
    outcome = generate(tmp_path, drell_yan(settings=["Beams:eCM = 13000"]))  # no process switched on
    assert not outcome.result.ok
    assert "init() failed" in (outcome.result.error or "")


def test_an_unknown_resonance_is_reported(tmp_path: Path) -> None:
    outcome = generate(tmp_path, drell_yan(resonances=[-23]))  # the Z is its own antiparticle
    assert not outcome.result.ok
    assert "-23" in (outcome.result.error or "")


def test_running_out_of_events_fails_and_keeps_the_previous_files(tmp_path: Path) -> None:
    (tmp_path / "one.lhe").write_text(_one_event_lhe())
    (tmp_path / "events").mkdir()
    previous = tmp_path / "events/events.root"
    previous.write_bytes(b"previous run")
    request = Request(settings=["Beams:frameType = 4", "Beams:LHEF = one.lhe"], n_events=3, seed=1, batch_size=2)
    outcome = generate(tmp_path, request)
    assert not outcome.result.ok
    assert "failed to generate" in (outcome.result.error or "")
    assert previous.read_bytes() == b"previous run"
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == ["events.root"]
    assert not multiprocessing.active_children(), "the HepMC3 writer outlived the failed generation"


def test_small_segments_and_a_full_backlog_write_the_same_file(
    dy: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_pipe, "CHUNK_PARTICLES", 1000)  # a batch is split into segments of ~2 events
    monkeypatch.setattr(batch_pipe, "MAX_IN_FLIGHT", 1)  # the generator waits for every segment
    again = generate(tmp_path, drell_yan(resonances=[23]))
    assert again.result.ok, again.result.error
    hepmc = "events/events.hepmc3"
    assert (tmp_path / hepmc).read_bytes() == (dy.directory / hepmc).read_bytes()


def test_a_writer_that_has_closed_and_exited_before_the_tool_looks_is_not_taken_for_dead(
    dy: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    send = batch_pipe.BatchPipe._send

    def slow_to_look(pipe: batch_pipe.BatchPipe, header: batch_pipe.Header | None) -> None:
        send(pipe, header)
        if header is None:  # the end of the batches: the writer replies "closed" and exits before the tool reads on
            pipe._process.join(timeout=60)

    monkeypatch.setattr(batch_pipe.BatchPipe, "_send", slow_to_look)
    again = generate(tmp_path, drell_yan(resonances=[23]))
    assert again.result.ok, again.result.error
    hepmc = "events/events.hepmc3"
    assert (tmp_path / hepmc).read_bytes() == (dy.directory / hepmc).read_bytes()


@pytest.mark.parametrize(
    ("process_from", "spare_core", "writer"),
    [(final_state_writer.PROCESS_FROM_EVENTS, True, False), (0, True, True), (0, False, False)],
    ids=["small-sample-here", "child", "no-spare-core-here"],
)
def test_baskets_of_several_batches_hold_the_same_events(
    dy: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    process_from: int,
    spare_core: bool,
    writer: bool,
) -> None:
    monkeypatch.setattr(pythia8_generate, "ROOT_BASKET_EVENTS", 2 * BATCH)
    monkeypatch.setattr(final_state_writer, "PROCESS_FROM_EVENTS", process_from)
    again = generate(tmp_path, drell_yan(resonances=[23], hepmc_path=None, spare_core=spare_core))
    assert again.result.ok, again.result.error
    assert ("final-state writer process" in capsys.readouterr().out) is writer
    with uproot.open(tmp_path / "events/events.root") as file:
        weight = file["events"]["weight"]
        # two full batches, then the last 70 events: memory does not grow with one basket per batch
        assert [weight.basket_entry_start_stop(i) for i in range(weight.num_baskets)] == [(0, 80), (80, 150)]
    assert again.tree().tolist() == dy.tree().tolist()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_reported_and_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the writer's temporary file is a link to /dev/full, where every write fails with ENOSPC
    fixed = uuid.UUID(int=1)
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)
    (tmp_path / "events").mkdir()
    (tmp_path / f"events/.events.hepmc3.{fixed.hex}.part").symlink_to("/dev/full")
    outcome = generate(tmp_path, drell_yan(n_events=80))
    assert not outcome.result.ok
    assert "writing the HepMC3 file failed" in (outcome.result.error or "")
    assert "disk is full" in (outcome.result.error or "")
    assert list((tmp_path / "events").iterdir()) == [], "a partial or temporary file was left behind"
    assert not multiprocessing.active_children()


def test_a_crashed_writer_is_reported_and_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write = HepmcWriter.write

    def write_and_crash(self: HepmcWriter, *args: Any) -> None:
        write(self, *args)
        os.kill(self._process.pid, signal.SIGKILL)

    monkeypatch.setattr(HepmcWriter, "write", write_and_crash)
    outcome = generate(tmp_path, drell_yan(n_events=80))
    assert not outcome.result.ok
    assert f"the HepMC3 writer process died (exit code {-signal.SIGKILL})" in (outcome.result.error or "")
    assert list((tmp_path / "events").iterdir()) == []
    assert not multiprocessing.active_children()


def test_a_crashed_final_state_writer_is_reported_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = FinalStateWriter.write

    def write_and_crash(self: FinalStateWriter, *args: Any) -> None:
        write(self, *args)
        assert self._child is not None
        os.kill(self._child._process.pid, signal.SIGKILL)

    monkeypatch.setattr(FinalStateWriter, "write", write_and_crash)
    monkeypatch.setattr(final_state_writer, "PROCESS_FROM_EVENTS", 0)  # a child even for a small sample
    outcome = generate(tmp_path, drell_yan(n_events=80, hepmc_path=None))
    assert not outcome.result.ok
    assert f"the final-state writer process died (exit code {-signal.SIGKILL})" in (outcome.result.error or "")
    assert list((tmp_path / "events").iterdir()) == []
    assert not multiprocessing.active_children()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the child processes in /proc (Linux)")
def test_the_writer_exits_when_the_tool_is_killed(tmp_path: Path) -> None:
    (tmp_path / "request.json").write_text(drell_yan(n_events=5000, batch_size=10).model_dump_json())
    with subprocess.Popen(
        [sys.executable, "-m", "madagents_tools.generation.pythia8_generate", "request.json", "result.json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as tool:
        assert tool.stderr is not None
        next(line for line in tool.stderr if line.startswith(PROGRESS_PREFIX))  # the writer is running
        children = _children(tool.pid)
        tool.kill()
        tool.wait()
    assert children, "no writer process found"
    deadline = time.monotonic() + 10
    while (running := [pid for pid in children if _running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running, "the writer (or multiprocessing's resource tracker) outlived the killed tool"


def _children(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process has exited meanwhile
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent (now init) has not reaped it yet


def _one_event_lhe() -> str:
    """A Les Houches file with a single u ū → Z → μ⁻μ⁺ event at rest."""
    energy, mass = 45.59, MUON_MASS
    momentum = math.sqrt(energy**2 - mass**2)
    lines = [
        "5 1 1.0 91.18 0.0078 0.118",
        f"2 -1 0 0 501 0 0 0 {energy} {energy} 0 0 9",
        f"-2 -1 0 0 0 501 0 0 {-energy} {energy} 0 0 9",
        f"23 2 1 2 0 0 0 0 0 {2 * energy} {2 * energy} 0 9",
        f"13 1 3 3 0 0 {momentum} 0 0 {energy} {mass} 0 9",
        f"-13 1 3 3 0 0 {-momentum} 0 0 {energy} {mass} 0 9",
    ]
    init = "<init>\n2212 2212 6500 6500 0 0 0 0 3 1\n1.0 0.0 1.0 1\n</init>"
    return (
        '<LesHouchesEvents version="1.0">\n'
        + init
        + "\n<event>\n"
        + "\n".join(lines)
        + "\n</event>\n</LesHouchesEvents>\n"
    )


def test_command_line_writes_a_parseable_result(tmp_path: Path) -> None:
    request = drell_yan(n_events=12, batch_size=5)
    (tmp_path / "request.json").write_text(request.model_dump_json())
    process = subprocess.run(
        [sys.executable, "-m", "madagents_tools.generation.pythia8_generate", "request.json", "result.json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    result = Result.model_validate_json((tmp_path / "result.json").read_text())
    assert result.ok, result.error
    assert result.n_events == 12
    assert all((tmp_path / record.path).is_file() for record in result.files)
    lines = process.stderr.splitlines()
    progress = [json.loads(line.removeprefix(PROGRESS_PREFIX)) for line in lines if line.startswith(PROGRESS_PREFIX)]
    assert progress == [{"done": done, "total": 12} for done in (5, 10, 12)]


@pytest.mark.slow
def test_real_root_reads_the_tree(dy: Run) -> None:
    # A separate interpreter: ROOT's import is slow and installs its own signal handlers.
    code = (
        "import ROOT, sys; f = ROOT.TFile.Open(sys.argv[1]); t = f.Get('events'); "
        "t.GetEntry(0); print(t.GetEntries(), t.GetBranch('muon_pt') is not None, t.nmuon)"
    )
    process = subprocess.run(
        [sys.executable, "-c", code, str(dy.directory / "events/events.root")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert process.stdout.split()[-3:] == [str(N_EVENTS), "True", str(dy.tree().nmuon[0])]
