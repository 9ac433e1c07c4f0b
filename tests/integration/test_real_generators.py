"""The real MadGraph5_aMC@NLO and Delphes, through the tools, where they are installed.

On a machine with ``MG5_PATH`` / Delphes (``DELPHES_PATH`` or ``DelphesHepMC3`` on PATH) the tools run on the host;
otherwise in the hep-full image, which CI builds from ``../shared/vendor`` — so in CI neither test is skipped.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import pytest

from madagents.context import RunContext
from madagents.rundir import RunDir
from madagents.sandbox import DockerLimits, DockerSandbox, LocalSandbox, Sandbox
from madagents.settings import Settings
from madagents.toolcall import call_tool
from madagents_tools.contract import sha256_file
from madagents_tools.detector import detector
from madagents_tools.detector.delphes import find_delphes
from madagents_tools.generation import mg5_generate, pythia8_generate
from madagents_tools.generation.mg5_output import count_lhe_events
from madagents_tools.io.event_io import read_events
from tests.conftest import DRELL_YAN_PYTHIA

pytestmark = pytest.mark.slow

MG5_FIXTURE_SIGMA = (649.695, 3.61)
"""σ ± error of MG5 3.5.7 on pp → μ⁺μ⁻ (m_ll > 60 GeV, seed 12345, 1000 events): tests/fixtures/mg5/pp_mumu."""


def _context(run_dir: Path, request: pytest.FixtureRequest, installed: bool) -> RunContext:
    """Where the generator is installed: the host, or else the hep-full image (required in CI)."""
    run_dir.mkdir()  # with the umask's mode: pytest's own 0700 directory would shut the container's user out
    sandbox: Sandbox
    if installed:
        sandbox = LocalSandbox(run_dir)
    else:
        image = request.getfixturevalue("hep_full_image")
        sandbox = DockerSandbox(run_dir, image, DockerLimits(cpus=2.0, memory_mb=4096))
    return RunContext(Settings(), RunDir(run_dir), sandbox, ["test"])


def test_real_mg5_generates_drell_yan(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run_dir = tmp_path / "run"
    ctx = _context(run_dir, request, installed=bool(os.environ.get("MG5_PATH")))
    card: dict[str, Any] = {"ebeam1": 6500, "ebeam2": 6500, "mmll": 60}
    generation = mg5_generate.Request(
        processes=["p p > mu+ mu-"], run_card=card, seed=12345, n_events=200, timeout_s=900
    )
    result, call = call_tool(ctx, "steps/01-mg5", generation, mg5_generate.Result)
    assert call.ok, f"{result.error}\n{result.log_tail}"
    assert result.n_events == 200
    assert result.sigma_pb is not None
    assert result.sigma_err_pb is not None
    # 200 events stop after the survey: σ agrees with the 1000-event fixture run within the errors
    sigma, error = MG5_FIXTURE_SIGMA
    assert abs(result.sigma_pb - sigma) < 4 * math.hypot(result.sigma_err_pb, error)
    assert 0 < result.sigma_err_pb < 0.02 * result.sigma_pb
    assert (result.run_card["iseed"], result.run_card["ebeam1"], result.run_card["mmll"]) == ("12345", "6500.0", "60.0")
    assert result.mg5_version == result.versions["mg5_aMC"]
    for record in result.files:
        assert sha256_file(run_dir / record.path) == record.sha256
    assert count_lhe_events(run_dir / "events/unweighted_events.lhe") == 200


def test_real_delphes_with_the_atlas_card(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run_dir = tmp_path / "run"
    ctx = _context(run_dir, request, installed=find_delphes() is not None)
    generation = pythia8_generate.Request(
        settings=DRELL_YAN_PYTHIA, n_events=50, seed=3, hepmc_path="events/events.hepmc3"
    )
    generated, call = call_tool(ctx, "steps/01-generate", generation, pythia8_generate.Result)
    assert call.ok, generated.error
    arrays = []
    for name in ("a", "b"):
        simulation = detector.Request(
            backend="delphes", seed=11, delphes_card="delphes_card_ATLAS.tcl", output_path=f"delphes/{name}.root"
        )
        result, call = call_tool(ctx, f"steps/02-{name}", simulation, detector.Result)
        assert call.ok, f"{result.error}\n{result.log_tail}"
        assert result.n_events == 50
        arrays.append(read_events(run_dir / f"delphes/{name}.root", ["weight", "muon_pt", "muon_iso", "jet_btag"]))
    assert arrays[0].tolist() == arrays[1].tolist(), "the same RandomSeed must give the same Delphes output"
    assert sum(len(muons) for muons in arrays[0].muon_pt) > 40, "Z → μμ events hold reconstructed muons"


def test_real_delphes_with_a_shipped_card_that_sources_others(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """delphes_card_MuonColliderDet.tcl sources five MuonCollider/ cards: inlined into the card Delphes reads."""
    run_dir = tmp_path / "run"
    ctx = _context(run_dir, request, installed=find_delphes() is not None)
    generation = pythia8_generate.Request(
        settings=DRELL_YAN_PYTHIA, n_events=50, seed=3, hepmc_path="events/events.hepmc3"
    )
    generated, call = call_tool(ctx, "steps/01-generate", generation, pythia8_generate.Result)
    assert call.ok, generated.error
    simulation = detector.Request(
        backend="delphes", seed=11, delphes_card="delphes_card_MuonColliderDet.tcl", output_path="delphes/m.root"
    )
    result, call = call_tool(ctx, "steps/02-delphes", simulation, detector.Result)
    assert call.ok, f"{result.error}\n{result.log_tail}"
    assert result.n_events == 50
    card = (run_dir / "delphes/m.tcl").read_text()
    for part in ("JetReco", "JetSmearing", "JetFlavorAssociation", "BTagging", "TauTagging"):  # and what they source
        assert f"MuonCollider/MuonColliderDet_{part}.tcl    (inlined by madagents)" in card
    assert re.search(r"^\s*source\s", card, re.MULTILINE) is None
