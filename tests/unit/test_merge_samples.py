"""Merging seeded Pythia8 chunks into one sample, on two real small chunks (and two with jets)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyhepmc
import pytest
import uproot
from pydantic import ValidationError

from madagents_tools.generation import merge_samples
from madagents_tools.generation.merge_samples import Request, combine_cross_sections
from madagents_tools.generation.pythia8_generate import JetDefinition, Result
from madagents_tools.generation.pythia8_generate import Request as GenerateRequest
from madagents_tools.generation.pythia8_generate import run as generate
from tests.conftest import DRELL_YAN_PYTHIA

N_EVENTS = 60
CHUNKS = ["steps/01-generate_c1/result.json", "steps/01-generate_c2/result.json"]
JET_CHUNKS = ["steps/01-generate_c3/result.json", "steps/01-generate_c4/result.json"]
FOOTER = "HepMC::Asciiv3-END_EVENT_LISTING"


def _chunk(index: int, seed: int, n_events: int = N_EVENTS, **changes: Any) -> None:
    """Generate chunk ``index`` in the current directory and store its result as its step would."""
    request = GenerateRequest(
        settings=DRELL_YAN_PYTHIA,
        n_events=n_events,
        seed=seed,
        resonances=[23],
        hepmc_path=f"events/chunks/c{index}.hepmc3",
        root_path=f"events/chunks/c{index}.root",
        batch_size=25,
        **changes,
    )
    result = generate(request)
    assert result.ok, result.error
    step = Path(f"steps/01-generate_c{index}")
    step.mkdir(parents=True, exist_ok=True)
    (step / "result.json").write_text(result.model_dump_json())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory with chunks 1 and 2 (Drell–Yan, seeds 11 and 12) and 3 and 4 (20 events with jets)."""
    directory = tmp_path_factory.mktemp("chunks")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        _chunk(1, 11)
        _chunk(2, 12)
        _chunk(3, 13, 20, jets=JetDefinition())
        _chunk(4, 14, 20, jets=JetDefinition())
    return directory


@pytest.fixture
def here(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the run directory's chunks as the working directory, so a test may spoil them."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("events.root", "events.hepmc3"))
    monkeypatch.chdir(copy)
    return copy


@pytest.fixture(scope="module")
def merged(run_dir: Path) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(run_dir)
        return merge_samples.run(Request(chunk_results=CHUNKS))


def _chunk_result(run_dir: Path, path: str) -> Result:
    return Result.model_validate_json((run_dir / path).read_text())


def _tree(path: Path) -> ak.Array:
    with uproot.open(path) as file:
        return file["events"].arrays()


def test_counts_and_provenance_add_up(run_dir: Path, merged: Result) -> None:
    chunks = [_chunk_result(run_dir, path) for path in CHUNKS]
    assert merged.ok, merged.error
    assert merged.n_events == 2 * N_EVENTS
    assert merged.n_tried == sum(chunk.n_tried for chunk in chunks)
    assert merged.generation_seconds == pytest.approx(sum(chunk.generation_seconds for chunk in chunks))
    assert merged.seed is None
    assert merged.decay_tables == chunks[0].decay_tables
    assert merged.decay_tables[0].pdg_id == 23
    assert merged.warnings == []
    assert merged.versions["pythia8mc"] == chunks[0].versions["pythia8mc"]
    assert [(f.path, f.kind, f.n_events) for f in merged.files] == [
        ("events/events.hepmc3", "hepmc3", 2 * N_EVENTS),
        ("events/events.root", "root", 2 * N_EVENTS),
    ]


def test_root_trees_are_concatenated_and_renumbered(run_dir: Path, merged: Result) -> None:
    assert merged.ok
    tree = _tree(run_dir / "events/events.root")
    first, second = (_tree(run_dir / f"events/chunks/c{i}.root") for i in (1, 2))
    assert tree.event_number.tolist() == list(range(2 * N_EVENTS))
    assert tree.weight.tolist() == [*first.weight.tolist(), *second.weight.tolist()]
    assert tree.muon_pt.tolist() == [*first.muon_pt.tolist(), *second.muon_pt.tolist()]
    assert set(tree.fields) == set(first.fields)
    assert "jet_pt" not in tree.fields  # no jets were clustered, so none are stored
    with uproot.open(run_dir / "events/events.root") as file:
        assert file["events"].typenames() == uproot.open(run_dir / "events/chunks/c1.root")["events"].typenames()


def test_hepmc_files_are_concatenated_with_one_header_and_footer(run_dir: Path, merged: Result) -> None:
    assert merged.ok
    text = (run_dir / "events/events.hepmc3").read_text()
    assert text.count(FOOTER) == 1
    assert text.count("HepMC::Asciiv3-START_EVENT_LISTING") == 1
    assert text.rstrip().endswith(FOOTER)
    with pyhepmc.open(run_dir / "events/events.hepmc3") as file:
        events = list(file)
    with pyhepmc.open(run_dir / "events/chunks/c2.hepmc3") as file:
        second = list(file)
    assert [event.event_number for event in events] == list(range(2 * N_EVENTS))
    assert len(events[N_EVENTS].particles) == len(second[0].particles)
    assert events[N_EVENTS].particles[2].momentum == second[0].particles[2].momentum


def test_cross_section_formula() -> None:
    sigma, error = combine_cross_sections([(100, 10.0, 1.0), (300, 14.0, 0.5)])
    assert sigma == pytest.approx((100 * 10.0 + 300 * 14.0) / 400)
    assert error == pytest.approx(math.hypot(100 * 1.0, 300 * 0.5) / 400)
    # K chunks of equal size and error: the error of one run K times as long
    sigma, error = combine_cross_sections([(1000, 10.0, 1.0), (1000, 10.2, 1.0), (1000, 9.8, 1.0), (1000, 10.0, 0.99)])
    assert sigma == pytest.approx(10.0)
    assert error == pytest.approx(0.5, rel=0.01)
    # the same σ and error everywhere is one shared number (an LHE file's <init>), not four estimates
    assert combine_cross_sections([(500, 7.0, 0.3)] * 4) == (7.0, 0.3)


def test_merged_cross_section_is_the_pooled_estimate(run_dir: Path, merged: Result) -> None:
    first, second = (_chunk_result(run_dir, path) for path in CHUNKS)
    assert first.sigma_pb is not None
    assert second.sigma_pb is not None
    assert first.sigma_err_pb is not None
    assert second.sigma_err_pb is not None
    assert merged.sigma_pb is not None
    assert merged.sigma_err_pb is not None
    assert min(first.sigma_pb, second.sigma_pb) <= merged.sigma_pb <= max(first.sigma_pb, second.sigma_pb)
    assert merged.sigma_err_pb < min(first.sigma_err_pb, second.sigma_err_pb)
    # two chunks of similar size: about the chunks' error over √2
    assert merged.sigma_err_pb == pytest.approx(math.hypot(first.sigma_err_pb, second.sigma_err_pb) / 2, rel=0.2)


def test_merging_is_deterministic(here: Path) -> None:
    again = merge_samples.run(Request(chunk_results=CHUNKS, root_path="b/e.root", hepmc_path="b/e.hepmc3"))
    once = merge_samples.run(Request(chunk_results=CHUNKS, root_path="a/e.root", hepmc_path="a/e.hepmc3"))
    assert once.ok
    assert again.ok
    assert Path("a/e.hepmc3").read_bytes() == Path("b/e.hepmc3").read_bytes()
    assert once.files[0].sha256 == again.files[0].sha256
    first, second = _tree(here / "a/e.root"), _tree(here / "b/e.root")
    for field in first.fields:
        assert ak.array_equal(first[field], second[field]), field
    assert (once.sigma_pb, once.sigma_err_pb) == (again.sigma_pb, again.sigma_err_pb)


def test_jet_branches_are_kept_when_present(here: Path) -> None:
    result = merge_samples.run(Request(chunk_results=JET_CHUNKS))
    assert result.ok, result.error
    tree = _tree(here / "events/events.root")
    assert "jet_pt" in tree.fields
    assert "jet_btag" in tree.fields
    assert np.array_equal(tree.event_number.to_numpy(), np.arange(40))


def test_chunks_with_other_branches_are_refused(here: Path) -> None:
    result = merge_samples.run(Request(chunk_results=[CHUNKS[0], JET_CHUNKS[0]]))
    assert not result.ok
    assert result.error is not None
    assert "steps/01-generate_c3/result.json has the branches" in result.error
    assert not Path("events/events.root").exists()


def test_truncated_chunk_is_refused(here: Path) -> None:
    hepmc = here / "events/chunks/c2.hepmc3"
    hepmc.write_bytes(hepmc.read_bytes()[:-5000])
    result = merge_samples.run(Request(chunk_results=CHUNKS))
    assert not result.ok
    assert result.error is not None
    assert "events/chunks/c2.hepmc3 of chunk steps/01-generate_c2/result.json is truncated" in result.error
    assert FOOTER in result.error
    assert not Path("events/events.hepmc3").exists()
    assert not Path("events/events.root").exists()


def test_changed_chunk_is_refused(here: Path) -> None:
    hepmc = here / "events/chunks/c1.hepmc3"
    data = bytearray(hepmc.read_bytes())
    data[len(data) // 2] ^= 1
    hepmc.write_bytes(bytes(data))
    result = merge_samples.run(Request(chunk_results=CHUNKS))
    assert not result.ok
    assert result.error is not None
    assert "c1.hepmc3 of chunk steps/01-generate_c1/result.json changed since the chunk wrote it" in result.error
    assert not Path("events/events.hepmc3").exists()


def test_failed_chunk_is_named(here: Path) -> None:
    failed = Result(ok=False, error="Pythia8 init() failed; the 'PYTHIA Abort' lines say why")
    Path(CHUNKS[1]).write_text(failed.model_dump_json())
    result = merge_samples.run(Request(chunk_results=CHUNKS))
    assert not result.ok
    assert result.error == f"chunk {CHUNKS[1]} failed: Pythia8 init() failed; the 'PYTHIA Abort' lines say why"


def test_missing_chunk_is_named(here: Path) -> None:
    result = merge_samples.run(Request(chunk_results=[*CHUNKS, "steps/01-generate_c9/result.json"]))
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("chunk result steps/01-generate_c9/result.json not found")


def test_result_of_another_tool_is_refused(here: Path) -> None:
    Path(CHUNKS[0]).write_text(json.dumps({"ok": True, "n_events": "many"}))
    result = merge_samples.run(Request(chunk_results=CHUNKS))
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith(f"chunk result {CHUNKS[0]} is not a pythia8_generate result")


def test_request_needs_two_chunks_inside_the_run_directory() -> None:
    with pytest.raises(ValidationError, match="at least 2 items"):
        Request(chunk_results=[CHUNKS[0]])
    with pytest.raises(ValidationError, match="must be relative to the run directory"):
        Request(chunk_results=[CHUNKS[0], "../other/result.json"])


def test_runs_as_a_module(here: Path) -> None:
    Path("request.json").write_text(Request(chunk_results=CHUNKS).model_dump_json())
    command = [sys.executable, "-m", "madagents_tools.generation.merge_samples", "request.json", "result.json"]
    completed = subprocess.run(command, check=False, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    result = Result.model_validate_json(Path("result.json").read_text())
    assert result.ok
    assert result.n_events == 2 * N_EVENTS


def test_without_hepmc3_only_the_root_trees_are_merged_and_listed(here: Path) -> None:
    for chunk in ("c1", "c2"):  # chunks planned without Delphes write none: the merge must not look for them
        (here / f"events/chunks/{chunk}.hepmc3").unlink()
    result = merge_samples.run(Request(chunk_results=CHUNKS, hepmc_path=None))
    assert result.ok, result.error
    assert [(f.path, f.kind, f.n_events) for f in result.files] == [("events/events.root", "root", 2 * N_EVENTS)]
    assert not list((here / "events").glob("*.hepmc3"))
    assert _tree(here / "events/events.root").event_number.tolist() == list(range(2 * N_EVENTS))
