"""The detector step: the parametric detector on synthetic and Pythia8 events, its cards, and the Delphes backend."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from pydantic import ValidationError

from madagents.detector_cards import load_detector_card
from madagents_tools.analysis import analyze
from madagents_tools.contract import PROGRESS_PREFIX, sha256_file
from madagents_tools.detector import delphes
from madagents_tools.detector.detector import DELPHES_MISSING, Request, Result, find_delphes, run, seeded_delphes_card
from madagents_tools.detector.detector_card import DetectorCard
from madagents_tools.generation import pythia8_generate
from madagents_tools.io.event_io import EventFileError, read_events
from madagents_tools.io.final_state import BRANCHES
from tests.conftest import REPO

MUON_MASS = 0.10566
N_SYNTHETIC = 20_000
BARREL, ENDCAP, SOFT, NOT_ISOLATED = 0.0, 2.0, -2.0, 1.0
"""The φ of each synthetic muon: the detector leaves η and φ alone, so φ tells which muon came out."""
MUONS = [
    (50.0, 0.3, BARREL, MUON_MASS, -1, 0.01),  # ATLAS card: ε = 0.99 × 0.95, σ/pT = 0.01 ⊕ 1e-4·pT
    (50.0, 2.0, ENDCAP, MUON_MASS, 1, 0.01),  # ε = 0.98 × 0.85, σ/pT = 0.025 ⊕ 3.5e-4·pT
    (8.0, 0.3, SOFT, MUON_MASS, 1, 0.01),  # below the 10 GeV threshold: never reconstructed
    (50.0, -0.3, NOT_ISOLATED, MUON_MASS, 1, 0.40),  # fails the isolation cut of 0.25
]
ELECTRONS = [(50.0, -1.0, -1.0, 0.000511, -1, 0.05)]
JETS = [(100.0, 0.5, -2.5, 10.0, 1), (100.0, -0.5, 2.5, 10.0, 0)]  # a truth b jet and a light jet
JET_ENERGY = math.hypot(100 * math.cosh(0.5), 10.0)
M_MUMU = {"name": "m", "observable": "mass(muons[0], muons[1])", "bins": 10, "range": [0, 100], "label": "m"}
TRUE_PT = {BARREL: 50.0, ENDCAP: 50.0, NOT_ISOLATED: 50.0, -1.0: 50.0, -2.5: 100.0, 2.5: 100.0}
DELPHES_BRANCHES = {
    "Event_size", "Event.Number", "Event.Weight", "Event.MHat",
    *(f"{name}_size" for name in ("Muon", "Electron", "Jet", "MissingET")),
    *(f"{name}.{leaf}" for name in ("Muon", "Electron") for leaf in ("PT", "Eta", "Phi", "Charge", "IsolationVar")),
    *(f"Jet.{leaf}" for leaf in ("PT", "Eta", "Phi", "Mass", "BTag")),
    "MissingET.MET", "MissingET.Phi",
}  # fmt: skip


def write_particle_level(path: Path, n_events: int, *, jets: bool = True, met_pt: float = 0.0) -> Path:
    """``n_events`` identical events holding MUONS, ELECTRONS and JETS, in the generation tool's TTree layout."""

    def collection(objects: list[tuple[float, ...]], fields: dict[str, Any]) -> ak.Array:
        columns = {
            field: np.tile(np.asarray([obj[i] for obj in objects], dtype=dtype), n_events)
            for i, (field, dtype) in enumerate(fields.items())
        }
        return ak.unflatten(ak.zip(columns), np.full(n_events, len(objects)))

    kinematics = {"pt": np.float64, "eta": np.float64, "phi": np.float64, "mass": np.float64}
    lepton = kinematics | {"charge": np.int32, "iso": np.float64}
    columns: dict[str, Any] = {
        "event_number": np.arange(n_events, dtype=np.int64),
        "weight": np.ones(n_events),
        "mhat": np.full(n_events, 91.0),
        "muon": collection(MUONS, lepton),
        "electron": collection(ELECTRONS, lepton),
        "met_pt": np.full(n_events, met_pt),
        "met_phi": np.zeros(n_events),
    }
    if jets:
        jets_ = collection(JETS, kinematics | {"btag": np.int32})
        columns["jet"] = ak.with_field(jets_, ak.values_astype(ak.zeros_like(jets_.btag), np.int32), "ctag")
    path.parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path) as file:
        file.mktree("events", {name: BRANCHES[name] for name in columns}).extend(columns)
    return path


def detect(directory: Path, **fields: Any) -> Result:
    """Run the parametric detector with the ATLAS card in ``directory`` (the run directory)."""
    request = Request.model_validate({"seed": 11, "card": load_detector_card("atlas"), **fields})
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        return run(request)


def delphes_tree(directory: Path, path: str = "events/detector.root") -> Any:
    with uproot.open(directory / path) as file:
        return file["Delphes"].arrays()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("synthetic")
    write_particle_level(directory / "events/events.root", N_SYNTHETIC)
    result = detect(directory)
    assert result.ok, result.error
    return directory


def _binomial_ok(passed: int, total: int, probability: float) -> bool:
    """Within 5 standard deviations of the binomial expectation."""
    return abs(passed / total - probability) < 5 * math.sqrt(probability * (1 - probability) / total) + 1e-12


def test_output_has_delphes_branch_names_and_size_counters(synthetic: Path) -> None:
    with uproot.open(synthetic / "events/detector.root") as file:
        assert set(file.keys(cycle=False)) == {"Delphes"}
        assert set(file["Delphes"].keys()) == DELPHES_BRANCHES
        assert file["Delphes"].num_entries == N_SYNTHETIC
    tree = delphes_tree(synthetic)
    for name in ("Muon", "Electron", "Jet"):
        assert ak.all(tree[f"{name}_size"] == ak.num(tree[f"{name}.PT"])), name
    assert ak.all(tree["Event_size"] == 1)
    assert ak.all(tree["MissingET_size"] == 1)
    assert ak.flatten(tree["Event.Number"]).tolist() == list(range(N_SYNTHETIC))
    assert ak.all(tree["Muon.PT"][:, :-1] >= tree["Muon.PT"][:, 1:]), "muons not sorted by decreasing pT"


def test_result_records_the_file_and_the_realised_efficiencies(synthetic: Path) -> None:
    result = Result.model_validate_json(json.dumps(detect(synthetic, output_path="events/again.root").model_dump()))
    assert (result.ok, result.backend, result.card, result.n_events, result.seed) == (
        True, "parametric", "atlas", N_SYNTHETIC, 11,
    )  # fmt: skip
    [record] = result.files
    assert (record.path, record.kind, record.n_events) == ("events/again.root", "root", N_SYNTHETIC)
    assert sha256_file(synthetic / record.path) == record.sha256
    assert not list((synthetic / "events").glob(".*.part")), "temporary files left behind"
    muons = result.realised["muon"]
    assert muons.n_in == 4 * N_SYNTHETIC
    assert _binomial_ok(muons.n_out, muons.n_in, (2 * 0.99 * 0.95 + 0.98 * 0.85) / 4)
    isolation = result.realised["muon_isolation"]
    assert isolation.n_in == muons.n_out
    assert isolation.n_out == ak.sum(delphes_tree(synthetic, record.path)["Muon_size"])
    assert result.realised["jet"].fraction == 1.0
    assert any("not Delphes" in line for line in result.assumptions)


@pytest.mark.parametrize(
    ("phi", "efficiency"), [(BARREL, 0.99 * 0.95), (ENDCAP, 0.98 * 0.85), (SOFT, 0.0), (NOT_ISOLATED, 0.0)]
)
def test_muon_efficiency_matches_the_card(synthetic: Path, phi: float, efficiency: float) -> None:
    found = ak.sum(np.isclose(delphes_tree(synthetic)["Muon.Phi"], phi))
    assert _binomial_ok(int(found), N_SYNTHETIC, efficiency)


@pytest.mark.parametrize(
    ("branch", "phi", "eta", "expected"),
    [
        ("Muon", BARREL, 0.3, math.hypot(0.01, 1e-4 * 50)),
        ("Muon", ENDCAP, 2.0, math.hypot(0.025, 3.5e-4 * 50)),
        # ECal: σ(E)/E = 0.0017 ⊕ 0.101/√E
        ("Electron", -1.0, -1.0, math.hypot(0.0017, 0.101 / math.sqrt(50 * math.cosh(1.0)))),
        # HCal |η| < 1.7: σ(E)/E = 0.0302 ⊕ 0.5205/√E ⊕ 1.59/E with E of the 100 GeV, 10 GeV-mass jet
        ("Jet", -2.5, 0.5, math.sqrt(0.0302**2 + 0.5205**2 / JET_ENERGY + (1.59 / JET_ENERGY) ** 2)),
    ],
)
def test_resolution_matches_the_card(synthetic: Path, branch: str, phi: float, eta: float, expected: float) -> None:
    tree = delphes_tree(synthetic)
    chosen = np.isclose(tree[f"{branch}.Phi"], phi)
    assert ak.all(np.isclose(tree[f"{branch}.Eta"][chosen], eta)), "the detector must leave η alone"
    ratio = np.asarray(ak.flatten(tree[f"{branch}.PT"][chosen]), dtype=np.float64) / TRUE_PT[phi]
    assert len(ratio) > 0.5 * N_SYNTHETIC
    assert abs(ratio.mean() - 1) < 5 * expected / math.sqrt(len(ratio)), "log-normal smearing keeps the mean"
    assert ratio.std() == pytest.approx(expected, rel=0.03)


def test_jet_mass_scales_with_pt_and_btag_follows_the_card(synthetic: Path) -> None:
    tree = delphes_tree(synthetic)
    assert np.allclose(ak.flatten(tree["Jet.Mass"] / tree["Jet.PT"]), 0.1, rtol=1e-5)
    is_b = np.isclose(tree["Jet.Phi"], -2.5)
    b_tags, light_tags = (int(ak.sum(tree["Jet.BTag"][flavour])) for flavour in (is_b, ~is_b))
    assert set(ak.flatten(tree["Jet.BTag"]).tolist()) == {0, 1}
    assert _binomial_ok(b_tags, N_SYNTHETIC, 0.728)  # ATLAS card, b jets of 80–120 GeV
    assert _binomial_ok(light_tags, N_SYNTHETIC, 0.0027)  # light-jet mistag rate there


def test_met_is_corrected_for_the_smearing_of_the_written_objects(synthetic: Path) -> None:
    tree = delphes_tree(synthetic)
    shift = np.zeros((2, N_SYNTHETIC))
    for name in ("Muon", "Electron", "Jet"):
        phi = tree[f"{name}.Phi"]
        true_pt = ak.where(np.isclose(abs(phi), 2.5), 100.0, 50.0)
        delta = tree[f"{name}.PT"] - true_pt
        shift += np.stack(
            [np.asarray(ak.sum(delta * np.cos(phi), axis=1)), np.asarray(ak.sum(delta * np.sin(phi), axis=1))]
        )
    met = np.asarray(ak.flatten(tree["MissingET.MET"]))
    assert np.allclose(met, np.hypot(*shift), rtol=1e-4, atol=1e-3)  # the true MET is 0
    assert np.mean(met) > 1.0, "smeared objects must leave some MET"


def test_the_same_seed_gives_identical_arrays_whatever_the_batch_size(synthetic: Path) -> None:
    again = detect(synthetic, output_path="events/batched.root", batch_size=777)
    assert again.ok, again.error
    first, second = delphes_tree(synthetic), delphes_tree(synthetic, "events/batched.root")
    assert first.fields == second.fields
    for branch in first.fields:
        assert first[branch].tolist() == second[branch].tolist(), branch


def test_another_seed_gives_other_arrays(synthetic: Path) -> None:
    other = detect(synthetic, output_path="events/other.root", seed=12)
    assert other.ok, other.error
    first, second = delphes_tree(synthetic), delphes_tree(synthetic, "events/other.root")
    assert first["Muon.PT"].tolist() != second["Muon.PT"].tolist()
    assert first["Jet.PT"].tolist() != second["Jet.PT"].tolist()


def test_event_io_maps_the_detector_output_back(synthetic: Path) -> None:
    branches = ["event_number", "weight", "mhat", "met_pt", "muon_pt", "muon_mass", "muon_iso", "jet_btag", "njet"]
    events = read_events(synthetic / "events/detector.root", branches, max_events=50)
    tree = delphes_tree(synthetic)[:50]
    assert len(events) == 50
    assert events.fields == branches
    assert events.event_number.tolist() == list(range(50))
    assert events.weight.tolist() == [1.0] * 50
    assert events.mhat.tolist() == [91.0] * 50
    assert events.met_pt.tolist() == ak.flatten(tree["MissingET.MET"]).tolist()
    assert events.muon_pt.tolist() == tree["Muon.PT"].tolist()
    assert ak.all(events.muon_mass == 0.1056583755), "Delphes stores no lepton mass: the PDG mass is used"
    assert events.muon_iso.tolist() == tree["Muon.IsolationVar"].tolist()
    assert events.njet.tolist() == tree["Jet_size"].tolist()
    assert str(ak.type(events.jet_btag)) == "50 * var * int32"


def test_without_jets_no_jet_branch_is_written(tmp_path: Path) -> None:
    write_particle_level(tmp_path / "events/events.root", 10, jets=False)
    result = detect(tmp_path)
    assert result.ok, result.error
    assert "no Jet branch written" in result.warnings[0]
    assert not any(key.startswith("Jet") for key in delphes_tree(tmp_path).fields)
    with pytest.raises(EventFileError, match=r"has no Jet branches; the Delphes card's TreeWriter"):
        read_events(tmp_path / "events/detector.root", ["jet_pt"])


def test_missing_and_damaged_inputs_are_reported(tmp_path: Path) -> None:
    assert detect(tmp_path).error == "events file events/events.root does not exist; run the generation step first"
    write_particle_level(tmp_path / "events/events.root", 2000)
    assert detect(tmp_path).ok
    wrong = detect(tmp_path, events_path="events/detector.root", output_path="events/twice.root")
    assert "has no particle-level TTree 'events'" in (wrong.error or "")
    path = tmp_path / "events/events.root"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    truncated = detect(tmp_path, output_path="events/truncated.root")
    assert not truncated.ok
    assert "corrupt or truncated" in (truncated.error or "")
    assert not (tmp_path / "events/truncated.root").exists()


def test_request_needs_the_card_of_its_backend() -> None:
    with pytest.raises(ValidationError, match=r"the parametric backend needs 'card'"):
        Request(seed=1)
    with pytest.raises(ValidationError, match=r"the delphes backend needs 'delphes_card'"):
        Request(seed=1, backend="delphes")
    with pytest.raises(ValidationError, match=r"must be relative to the run directory"):
        Request(seed=1, backend="delphes", delphes_card="/etc/card.tcl")
    with pytest.raises(ValidationError, match=r"greater than or equal to 1"):
        Request(seed=0, card=load_detector_card("cms"))


def test_shipped_cards_follow_the_delphes_cards() -> None:
    atlas, cms = load_detector_card("atlas"), load_detector_card("cms")
    assert (atlas.name, cms.name) == ("atlas", "cms")
    assert (atlas.muon.isolation_max, atlas.electron.isolation_max) == (0.25, 0.12)
    assert atlas.muon.efficiency[0].efficiency == pytest.approx(0.99 * 0.95)
    assert cms.muon.efficiency[-3].abs_eta == (1.5, 2.4)
    assert [entry.pt_gev for entry in atlas.jet.efficiency] == [(20.0, None)]
    assert "delphes_card_CMS.tcl" in cms.source


def test_a_card_file_loads_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text((REPO / "madagents/cards/detector_cms.yaml").read_text().replace("name: cms", "name: mine"))
    card = load_detector_card(path)
    assert card.name == "mine"
    assert DetectorCard.model_validate_json(card.model_dump_json()) == card


def test_unknown_card_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown detector card 'atlsa': give one of atlas, cms or the path"):
        load_detector_card("atlsa")


def test_invalid_yaml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("muon: [efficiency: {\n")
    with pytest.raises(ValueError, match=r"detector card .*broken.yaml is not valid YAML"):
        load_detector_card(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"efficiency": 1.5}, r"less than or equal to 1"),
        ({"abs_eta": [1.0, 0.5]}, r"abs_eta \[1.0, 0.5\) must satisfy 0 <= low < high"),
        ({"abs_eta": [1.0, 2.0]}, r"bins 0 .* and 1 .* overlap"),
        ({"eficiency": 0.5}, r"Extra inputs are not permitted"),
    ],
)
def test_invalid_card_values_are_clear_errors(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    data = load_detector_card("atlas").model_dump()
    data["muon"]["efficiency"][0] |= change
    path = tmp_path / "card.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    with pytest.raises(ValueError, match=rf"is not a valid detector card(.|\n)*{message}"):
        load_detector_card(path)


def test_command_line_reports_progress(tmp_path: Path) -> None:
    write_particle_level(tmp_path / "events/events.root", 25)
    request = Request(seed=3, card=load_detector_card("cms"), batch_size=10)
    (tmp_path / "request.json").write_text(request.model_dump_json())
    process = subprocess.run(
        [sys.executable, "-m", "madagents_tools.detector.detector", "request.json", "result.json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    result = Result.model_validate_json((tmp_path / "result.json").read_text())
    assert (result.ok, result.card, result.n_events) == (True, "cms", 25)
    lines = process.stderr.splitlines()
    progress = [json.loads(line.removeprefix(PROGRESS_PREFIX)) for line in lines if line.startswith(PROGRESS_PREFIX)]
    assert progress == [{"done": done, "total": 25} for done in (10, 20, 25)]


# --- Pythia8 events through the detector and the unchanged analysis ---------------------------------------------

ANALYSIS = {
    "objects": {
        "electrons": {"collection": "electron", "pt_min_gev": 25, "abs_eta_max": 2.5, "isolation_max": 0.15},
        "muons": {"collection": "muon", "pt_min_gev": 25, "abs_eta_max": 2.5, "isolation_max": 0.15},
        "jets": {"collection": "jet", "pt_min_gev": 25, "abs_eta_max": 2.5},
        "bjets": {"collection": "jet", "pt_min_gev": 25, "abs_eta_max": 2.5, "btag": True},
    },
    "cuts": [{"count": "jets", "min": 2}],
    "histograms": [
        {"name": "n_jets", "observable": "count(jets)", "bins": 10, "range": [0, 10], "label": "N jets"},
        {"name": "n_b", "observable": "count(bjets)", "bins": 5, "range": [0, 5], "label": "N b"},
        {"name": "pt_j0", "observable": "pt(jets[0])", "bins": 30, "range": [0, 600], "label": "pT j0"},
        {"name": "met", "observable": "met()", "bins": 30, "range": [0, 300], "label": "MET"},
        {"name": "m_jj", "observable": "mass(jets[0], jets[1])", "bins": 30, "range": [0, 900], "label": "m jj"},
    ],
}


@pytest.fixture(scope="module")
def ttbar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ttbar")
    request = pythia8_generate.Request(
        settings=["Beams:eCM = 13000", "Top:gg2ttbar = on", "Top:qqbar2ttbar = on"],
        n_events=60,
        seed=5,
        jets=pythia8_generate.JetDefinition(),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        generation = pythia8_generate.run(request)
    assert generation.ok, generation.error
    (directory / "generation.json").write_text(generation.model_dump_json())
    return directory


def _analyse(directory: Path, events_path: str, out_dir: str) -> analyze.Result:
    request = analyze.Request.model_validate(
        {
            "events_path": events_path,
            "generation_result_path": "generation.json",
            "analysis": ANALYSIS,
            "out_dir": out_dir,
            "process_label": "Pythia8 pp → tt̄, 13 TeV",
        }
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        return analyze.run(request)


def test_the_analysis_runs_unchanged_on_detector_output(ttbar: Path) -> None:
    detected = detect(ttbar)
    assert detected.ok, detected.error
    assert detected.n_events == 60
    assert set(detected.realised) == {
        "muon", "muon_isolation", "electron", "electron_isolation", "jet", "btag_b", "btag_light",
    }  # fmt: skip
    assert detected.realised["btag_b"].n_in > 30, "tt̄ jets carry truth b labels"
    particle = _analyse(ttbar, "events/events.root", "hists_particle")
    detector = _analyse(ttbar, "events/detector.root", "hists_detector")
    assert particle.ok, particle.error
    assert detector.ok, detector.error
    assert [h.name for h in detector.histograms] == [h.name for h in particle.histograms]
    assert detector.n_events == particle.n_events == 60
    assert detector.warnings == [] or all("lack the objects" in warning for warning in detector.warnings)
    pt_particle, pt_detector = (
        next(h for h in result.histograms if h.name == "pt_j0") for result in (particle, detector)
    )
    assert pt_detector.json_path == "hists_detector/pt_j0.json"
    assert (ttbar / pt_detector.json_path).read_text() != (ttbar / pt_particle.json_path).read_text()


def test_same_seed_gives_the_same_detector_level_histograms(ttbar: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        assert detect(ttbar, output_path=f"events/{name}.root").ok
        result = _analyse(ttbar, f"events/{name}.root", f"hists_{name}")
        assert result.ok, result.error
        outputs.append([(ttbar / h.json_path).read_text() for h in result.histograms])
    assert outputs[0] == outputs[1]


def test_max_events_is_respected_on_detector_output(ttbar: Path) -> None:
    assert detect(ttbar, output_path="events/max.root").ok
    events = read_events(ttbar / "events/max.root", ["weight", "jet_pt"], max_events=7)
    assert len(events) == 7


# --- real ROOT writes the layout of a real Delphes file --------------------------------------------------------

DELPHES_LIKE = """
import array, sys
import ROOT
ROOT.gInterpreter.Declare('''
class Muon: public TObject { public: Float_t PT, Eta, Phi; Int_t Charge; ClassDef(Muon, 1) };
class Jet: public TObject { public: Float_t PT, Eta, Phi, Mass; UInt_t BTag; ClassDef(Jet, 1) };
class MissingET: public TObject { public: Float_t MET, Eta, Phi; ClassDef(MissingET, 1) };
class HepMCEvent: public TObject { public: Long64_t Number; Float_t Weight; ClassDef(HepMCEvent, 1) };
''')
file = ROOT.TFile(sys.argv[1], "RECREATE")
tree = ROOT.TTree("Delphes", "Analysis tree")
arrays, sizes = {}, {}
for name, kind in (("Event", "HepMCEvent"), ("Muon", "Muon"), ("Jet", "Jet"), ("MissingET", "MissingET")):
    arrays[name], sizes[name] = ROOT.TClonesArray(kind), array.array("i", [0])
    tree.Branch(name, arrays[name], 64000, 99)  # split like Delphes' TreeWriter: Muon/Muon.PT, ...
    tree.Branch(name + "_size", sizes[name], name + "_size/I")
for i in range(3):
    for objects in arrays.values():
        objects.Clear()
    event = arrays["Event"].ConstructedAt(0)
    event.Number, event.Weight = 100 + i, 2.0
    for k in range(i):
        muon = arrays["Muon"].ConstructedAt(k)
        muon.PT, muon.Eta, muon.Phi, muon.Charge = 40.0 - k, 0.1, 0.2 + math.pi * k, 1 - 2 * k
    jet = arrays["Jet"].ConstructedAt(0)
    jet.PT, jet.Eta, jet.Phi, jet.Mass, jet.BTag = 50.0, 1.0, 2.0, 5.0, 2 + (i == 1)
    met = arrays["MissingET"].ConstructedAt(0)
    met.MET, met.Phi = 10.0 * i, 0.5
    for name, objects in arrays.items():
        sizes[name][0] = objects.GetEntriesFast()
    tree.Fill()
file.Write()
file.Close()
"""


@pytest.mark.slow
def test_a_file_in_real_delphes_layout_is_read_and_analysed(tmp_path: Path) -> None:
    pytest.importorskip("ROOT")
    script = tmp_path / "write.py"
    script.write_text("import math\n" + DELPHES_LIKE)
    subprocess.run([sys.executable, str(script), str(tmp_path / "delphes.root")], check=True, capture_output=True)
    branches = ["event_number", "weight", "met_pt", "muon_pt", "muon_charge", "muon_iso", "jet_btag", "jet_mass"]
    events = read_events(tmp_path / "delphes.root", branches)
    assert events.event_number.tolist() == [100, 101, 102]
    assert events.weight.tolist() == [2.0] * 3
    assert events.met_pt.tolist() == [0.0, 10.0, 20.0]
    assert events.muon_pt.tolist() == [[], [40.0], [40.0, 39.0]]
    assert events.muon_charge.tolist() == [[], [1], [1, -1]]
    assert events.muon_iso.tolist() == [[], [0.0], [0.0, 0.0]], "no IsolationVar: Delphes already cut on it"
    assert events.jet_btag.tolist() == [[0], [1], [0]], "bit 0 of Jet.BTag is the b tag"
    assert events.jet_mass.tolist() == [[5.0]] * 3
    result = _analyse_file(tmp_path, "delphes.root")
    assert result.ok, result.error
    assert result.histograms[0].entries == 2.0  # weight 2 × the one event with two opposite-charge muons


def _analyse_file(directory: Path, events_path: str) -> analyze.Result:
    (directory / "generation.json").write_text(
        pythia8_generate.Result(ok=True, n_events=3, sigma_pb=1.0, sigma_err_pb=0.1).model_dump_json()
    )
    analysis = {
        "objects": {"muons": {"collection": "muon", "isolation_max": 0.1}},
        "cuts": [{"opposite_charge": ["muons"]}],
        "histograms": [M_MUMU],
    }
    request = analyze.Request.model_validate(
        {
            "events_path": events_path,
            "generation_result_path": "generation.json",
            "analysis": analysis,
            "process_label": "x",
        }
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        return analyze.run(request)


def test_a_file_without_a_known_tree_is_refused(tmp_path: Path) -> None:
    with uproot.recreate(tmp_path / "other.root") as file:
        file.mktree("ntuple", {"x": np.float64}).extend({"x": np.zeros(3)})
    with pytest.raises(EventFileError, match=r"has neither a TTree 'events' \(particle level\) nor 'Delphes'"):
        read_events(tmp_path / "other.root", ["weight"])


# --- the Delphes backend -----------------------------------------------------------------------------------------

CARD = """set ExecutionPath {
  Efficiency
  TreeWriter
}
set RandomSeed 999
module Efficiency Efficiency {
  set RandomSeed 5
}
"""

FAKE_DELPHES = """
import json, pathlib, sys
import awkward as ak, numpy as np, uproot
card, output, hepmc = sys.argv[1:]
pathlib.Path("delphes_call.json").write_text(json.dumps({"argv": sys.argv[1:], "card": pathlib.Path(card).read_text()}))
if "fail" in pathlib.Path(card).read_text():
    sys.exit(1)
def collection(names, per_event):
    counts = np.full(4, per_event)
    return ak.unflatten(ak.zip({name: np.ones(4 * per_event, dtype=np.float32) for name in names}), counts)
columns = {
    "Event": ak.unflatten(
        ak.zip({"Number": np.arange(4), "Weight": np.ones(4, dtype=np.float32)}), np.ones(4, dtype=int)
    ),
    "Muon": collection(["PT", "Eta", "Phi", "Charge", "IsolationVar"], 2),
    "Electron": collection(["PT", "Eta", "Phi", "Charge", "IsolationVar"], 0),
    "Jet": collection(["PT", "Eta", "Phi", "Mass", "BTag"], 1),
    "MissingET": collection(["MET", "Phi"], 1),
}
with uproot.recreate(output) as file:
    tree = file.mktree("Delphes", {key: ak.type(value).content for key, value in columns.items()},
                       field_name=lambda a, b: f"{a}.{b}", counter_name=lambda name: f"{name}_size")
    tree.extend(columns)
"""


def test_seeded_card_sets_the_run_seed_once_at_top_level() -> None:
    seeded = seeded_delphes_card(CARD, 4242)
    lines = seeded.splitlines()
    assert lines[-1] == "set RandomSeed 4242"
    assert [line for line in lines if line.startswith("set RandomSeed")] == ["set RandomSeed 4242"]
    assert "# set RandomSeed 999" in lines[4], "the card's own seed is commented out, not silently dropped"
    assert "  set RandomSeed 5" in lines, "a module's parameter of the same name is left alone"
    assert seeded.startswith("set ExecutionPath {\n  Efficiency\n")


def test_delphes_missing_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DELPHES_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_delphes() is None
    result = detect(tmp_path, backend="delphes", card=None, delphes_card="delphes_card_ATLAS.tcl")
    assert (result.ok, result.backend, result.error) == (False, "delphes", DELPHES_MISSING)
    monkeypatch.setenv("DELPHES_PATH", str(tmp_path))  # a directory without DelphesHepMC3
    assert detect(tmp_path, backend="delphes", card=None, delphes_card="card.tcl").error == DELPHES_MISSING


@pytest.fixture
def fake_delphes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in DelphesHepMC3 (a Python script) in DELPHES_PATH with a shipped card beside it; gives the run dir."""
    install = tmp_path / "delphes"
    (install / "cards").mkdir(parents=True)
    executable = install / "DelphesHepMC3"
    executable.write_text(f"#!{sys.executable}\n{FAKE_DELPHES}")
    executable.chmod(0o755)
    (install / "cards/delphes_card_ATLAS.tcl").write_text(CARD)
    monkeypatch.setenv("DELPHES_PATH", str(install))
    run_dir = tmp_path / "run"
    (run_dir / "events").mkdir(parents=True)
    (run_dir / "events/events.hepmc3").write_text("HepMC::Version 3\n")
    return run_dir


def test_delphes_runs_with_the_seeded_card(fake_delphes: Path) -> None:
    result = detect(fake_delphes, backend="delphes", card=None, delphes_card="delphes_card_ATLAS.tcl", seed=77)
    assert result.ok, result.error
    assert (result.backend, result.card, result.n_events, result.seed) == (
        "delphes", "delphes_card_ATLAS.tcl", 4, 77,
    )  # fmt: skip
    assert [(f.path, f.kind, f.n_events) for f in result.files] == [
        ("events/detector.tcl", "text", None),
        ("events/detector.delphes.root", "root", None),
        ("events/detector.root", "root", 4),
    ]
    call = json.loads((fake_delphes / "delphes_call.json").read_text())
    card, output, hepmc = call["argv"]
    assert (card, hepmc) == ("events/detector.tcl", "events/events.hepmc3")
    assert output.startswith("events/.detector.delphes.root."), "written atomically"
    assert output.endswith(".part"), "written atomically"
    assert call["card"].splitlines()[-1] == "set RandomSeed 77"
    assert (fake_delphes / card).read_text() == call["card"]
    assert result.assumptions == [
        "Detector response: Delphes (DelphesHepMC3) with card delphes_card_ATLAS.tcl, RandomSeed 77."
    ]
    assert read_events(fake_delphes / "events/detector.root", ["event_number", "weight"]).weight.tolist() == [1.0] * 4
    with uproot.open(fake_delphes / "events/detector.root") as flat:
        assert flat["Delphes"]["Muon_size"].array().tolist() == [2] * 4, "the collections are carried over"


def test_delphes_output_is_flattened_in_baskets(fake_delphes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delphes, "ROOT_BASKET_EVENTS", 3)
    result = detect(fake_delphes, backend="delphes", card=None, delphes_card="delphes_card_ATLAS.tcl")
    assert result.ok, result.error
    assert result.n_events == 4
    with uproot.open(fake_delphes / "events/detector.root") as flat:
        number = flat["Delphes"]["Event.Number"]
        assert [number.basket_entry_start_stop(i) for i in range(number.num_baskets)] == [(0, 3), (3, 4)]
        assert ak.flatten(number.array()).tolist() == [0, 1, 2, 3]


def test_a_run_directory_card_wins_and_a_failure_leaves_no_output(fake_delphes: Path) -> None:
    (fake_delphes / "cards").mkdir()
    (fake_delphes / "cards/mine.tcl").write_text("# fail on purpose\n")
    result = detect(fake_delphes, backend="delphes", card=None, delphes_card="cards/mine.tcl")
    assert result.error == "DelphesHepMC3 failed (exit code 1); the tool log holds its output"
    assert not (fake_delphes / "events/detector.root").exists()
    assert not list((fake_delphes / "events").glob(".*.part"))
    unknown = detect(fake_delphes, backend="delphes", card=None, delphes_card="nowhere.tcl")
    assert "Delphes card 'nowhere.tcl' is neither in the run directory nor among the cards" in (unknown.error or "")


def test_a_sample_without_a_hepmc3_file_is_refused_before_delphes_starts(fake_delphes: Path) -> None:
    (fake_delphes / "events/events.hepmc3").unlink()
    missing = detect(fake_delphes, backend="delphes", card=None, delphes_card="delphes_card_ATLAS.tcl")
    assert not missing.ok
    assert "the sample has no HepMC3 file events/events.hepmc3" in (missing.error or "")
    (fake_delphes / "events/events.lhe").write_text('<LesHouchesEvents version="3.0">\n')
    lhe = detect(
        fake_delphes,
        backend="delphes",
        card=None,
        delphes_card="delphes_card_ATLAS.tcl",
        hepmc_path="events/events.lhe",
    )
    assert "events/events.lhe is not a HepMC3 ASCII file" in (lhe.error or "")
    assert not (fake_delphes / "delphes_call.json").exists(), "Delphes never ran"
    assert not list((fake_delphes / "events").glob("detector*"))
