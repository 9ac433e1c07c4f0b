"""The detector step: Delphes with a chosen card when the sandbox has it, otherwise a parametric detector.

Both write a ROOT TTree ``Delphes`` with Delphes' branch names (``Muon.PT``, ..., ``Jet.BTag``, ``MissingET.MET``,
``Event.Weight``, and ``Muon_size``-style counters), which ``tools/event_io.py`` reads for the analysis. The
parametric detector (``tools/parametric_detector.py``, card in ``tools/detector_card.py``) is not Delphes: its
result says so in ``assumptions``, which belong in the run's assumptions log (PHYSICS.md, "Detector level").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from tools.contract import (
    OutputFile,
    RunPath,
    ToolRequest,
    ToolResult,
    atomic_path,
    inside_run_dir,
    package_versions,
    record_file,
    report_progress,
    tool_main,
)
from tools.detector_card import DetectorCard

__all__ = [
    "DELPHES_MISSING",
    "Realised",
    "Request",
    "Result",
    "detector_assumptions",
    "find_delphes",
    "main",
    "run",
    "seeded_delphes_card",
]

TREE = "Delphes"
MAX_SEED = 2**31 - 1
"""Delphes passes RandomSeed to gRandom->SetSeed, where 0 would seed from the clock; so 1 <= seed <= 2³¹ − 1."""
DELPHES_EXECUTABLE = "DelphesHepMC3"
DELPHES_MISSING = (
    "Delphes not available in this sandbox — build hep-full, set DELPHES_PATH, or use the parametric detector"
)
VERSIONED_PACKAGES = ("uproot", "awkward", "numpy")


class Request(ToolRequest):
    """Which detector, with which card and seed, on which events."""

    tool: Literal["detector"] = "detector"
    backend: Literal["parametric", "delphes"] = Field(
        default="parametric",
        description="parametric: efficiencies and resolutions from the inline card (always available); "
        "delphes: DelphesHepMC3 on the HepMC3 file (full image, or DELPHES_PATH).",
    )
    seed: int = Field(ge=1, le=MAX_SEED, description="Drives every random number (numpy, or Delphes' RandomSeed).")
    card: DetectorCard | None = Field(
        default=None, description="parametric: the whole card, inline (madagents/cards/detector_<name>.yaml)."
    )
    delphes_card: str | None = Field(
        default=None,
        description="delphes: a .tcl card in the run directory, or the file name of a card shipped with Delphes.",
        examples=["delphes_card_ATLAS.tcl", "cards/my_card.tcl"],
    )
    events_path: RunPath = Field(
        default="events/events.root", description="parametric input: ROOT file with the particle-level TTree 'events'."
    )
    hepmc_path: RunPath = Field(default="events/events.hepmc3", description="delphes input: HepMC3 file.")
    output_path: OutputFile = Field(default="events/detector.root", description="Output ROOT file (TTree 'Delphes').")
    batch_size: int = Field(default=10_000, gt=0, description="parametric: events per batch (progress per batch).")
    timeout_s: int = Field(default=3600, gt=0, description="delphes: wall-clock limit of the Delphes process.")

    @field_validator("delphes_card")
    @classmethod
    def _tcl_in_run_dir(cls, value: str | None) -> str | None:
        if value is not None:
            inside_run_dir(value)
            if not value.endswith(".tcl"):
                msg = f"delphes_card {value!r} must be a Delphes .tcl card, e.g. delphes_card_ATLAS.tcl"
                raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _card_of_backend(self) -> Self:
        if self.backend == "parametric" and self.card is None:
            msg = "the parametric backend needs 'card' (load madagents/cards/detector_atlas.yaml or _cms.yaml)"
            raise ValueError(msg)
        if self.backend == "delphes" and self.delphes_card is None:
            msg = "the delphes backend needs 'delphes_card', e.g. delphes_card_ATLAS.tcl"
            raise ValueError(msg)
        return self


class Realised(BaseModel):
    """Objects before and after one stage of the parametric detector: the efficiency actually applied."""

    n_in: int
    n_out: int
    fraction: float | None = Field(default=None, description="n_out / n_in; None when no object came in.")


class Result(ToolResult):
    backend: Literal["parametric", "delphes"] | None = None
    card: str | None = Field(default=None, description="Card name (parametric) or Delphes card file (delphes).")
    n_events: int = Field(default=0, description="Events written (every input event, with its surviving objects).")
    realised: dict[str, Realised] = Field(
        default_factory=dict,
        description="parametric: per stage (muon, muon_isolation, electron, electron_isolation, jet, btag_b, "
        "btag_light) the objects in and out.",
    )
    assumptions: list[str] = Field(default_factory=list, description="For the run's assumptions log.")


class _DetectorError(Exception):
    """A problem the caller can fix (missing input, unreadable file, failed Delphes); reported as ok=False."""


def run(request: Request) -> Result:
    versions = package_versions(*VERSIONED_PACKAGES)
    try:
        if request.backend == "delphes":
            return _delphes(request, versions)
        return _parametric(request, versions)
    except _DetectorError as exc:
        return Result(ok=False, error=str(exc), backend=request.backend, seed=request.seed, versions=versions)


def _parametric(request: Request, versions: dict[str, str]) -> Result:
    import uproot  # noqa: PLC0415 - heavy imports stay out of the request/result models

    from tools.parametric_detector import Tally, branch_types, detector_columns, make_streams  # noqa: PLC0415

    card = request.card
    assert card is not None, "the request validator requires a card for the parametric backend"
    source = Path(request.events_path)
    streams, done = make_streams(request.seed), 0
    tally: Tally = {}
    with _open_root(source) as particle_file:
        tree = _particle_tree(particle_file, source)
        has_jets, total = "jet_pt" in tree, tree.num_entries
        with atomic_path(request.output_path) as tmp, uproot.recreate(tmp) as file:
            output = file.mktree(
                TREE,
                branch_types(has_jets),
                field_name=lambda outer, inner: f"{outer}.{inner}",
                counter_name=lambda name: f"{name}_size",
            )
            for events in _batches(tree, source, request.batch_size):
                output.extend(detector_columns(events, card, streams, tally))
                done += len(events)
                report_progress(done, total)
    realised = {
        stage: Realised(n_in=n_in, n_out=n_out, fraction=n_out / n_in if n_in else None)
        for stage, (n_in, n_out) in tally.items()
    }
    return Result(
        ok=True,
        backend="parametric",
        card=card.name,
        n_events=done,
        realised=realised,
        assumptions=detector_assumptions(card, has_jets),
        warnings=[] if has_jets else [f"{source} has no jets (the generator clustered none): no Jet branch written"],
        seed=request.seed,
        versions=versions,
        files=[record_file(request.output_path, "root", done)],
    )


def _open_root(path: Path) -> Any:
    import uproot  # noqa: PLC0415

    if not path.is_file():
        msg = f"events file {path} does not exist; run the generation step first"
        raise _DetectorError(msg)
    try:
        return uproot.open(path)
    except Exception as exc:  # uproot reports a damaged file through many exception types
        msg = f"{path} cannot be read as ROOT ({type(exc).__name__}: {exc}); it is corrupt or truncated"
        raise _DetectorError(msg) from None


def _particle_tree(file: Any, path: Path) -> Any:
    try:
        keys = file.keys(cycle=False)
        tree = file["events"] if "events" in keys else None
        total = tree.num_entries if tree is not None else 0
    except Exception as exc:
        msg = f"{path} cannot be read as ROOT ({type(exc).__name__}: {exc}); it is corrupt or truncated"
        raise _DetectorError(msg) from None
    if tree is None:
        msg = f"{path} has no particle-level TTree 'events' (it holds {keys}); the detector reads generator output"
        raise _DetectorError(msg)
    if total == 0:
        msg = f"the TTree 'events' in {path} holds no events"
        raise _DetectorError(msg)
    return tree


def _batches(tree: Any, path: Path, size: int) -> Any:
    """The events in batches; a read failure becomes a _DetectorError, a failure while processing stays a bug."""
    batches = tree.iterate(step_size=size)
    while True:
        try:
            events = next(batches)
        except StopIteration:
            return
        except Exception as exc:
            msg = f"{path} cannot be read as ROOT ({type(exc).__name__}: {exc}); it is corrupt or truncated"
            raise _DetectorError(msg) from None
        yield events


def detector_assumptions(card: DetectorCard, has_jets: bool) -> list[str]:
    """What the parametric detector assumes, one line each ('topic: choice'), for the run's assumptions log."""
    soft = card.missing_et.soft_resolution_gev
    lines = [
        f"Detector response: madagents' parametric detector with card '{card.name}' ({card.source}); this is not "
        "Delphes: per-object efficiencies, resolutions and isolation are applied to the particle-level objects.",
        "Lepton isolation: the particle-level relative isolation (ΔR < 0.3, all visible particles) is cut at the "
        "card's value; Delphes uses its own cone and eflow objects.",
        "MET: the particle-level MET corrected for the smearing of the muons, electrons and jets that are written; "
        "objects lost to inefficiency leave it unchanged"
        + (f"; plus a Gaussian soft term of {soft} GeV per component." if soft else "."),
    ]
    if has_jets:
        lines.append(
            "b-tagging: the particle-level jets carry a truth b label only (a B hadron with pT > 5 GeV within ΔR < R), "
            "so every other jet, c jets included, gets the light-jet mistag rate; the card's c-jet rate is unused. "
            "Jets keep the particle-level radius; the card's jet resolution is applied to the whole jet."
        )
    return lines


def find_delphes() -> Path | None:
    """DelphesHepMC3 from DELPHES_PATH (the Delphes directory or the executable itself), else from PATH."""
    configured = os.environ.get("DELPHES_PATH")
    if configured:
        path = Path(configured)
        candidate = path / DELPHES_EXECUTABLE if path.is_dir() else path
        return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None
    found = shutil.which(DELPHES_EXECUTABLE)
    return Path(found) if found else None


def seeded_delphes_card(text: str, seed: int) -> str:
    """The card with ``set RandomSeed <seed>`` appended, any top-level RandomSeed of its own commented out.

    Delphes reads the global ``RandomSeed`` into ``gRandom->SetSeed`` (modules/Delphes.cc), so the run seed rules.
    """
    lines, depth = [], 0
    for line in text.splitlines():
        stripped = line.strip()
        if depth == 0 and re.match(r"set\s+RandomSeed\b", stripped):
            lines.append(f"# {stripped}    (replaced by madagents: the run seed is set at the end of this card)")
            continue
        if not stripped.startswith("#"):
            depth += line.count("{") - line.count("}")
        lines.append(line)
    footer = ["", "# added by madagents: the run's seed drives Delphes' random numbers", f"set RandomSeed {seed}", ""]
    return "\n".join(lines + footer)


def _delphes(request: Request, versions: dict[str, str]) -> Result:
    executable = find_delphes()
    if executable is None:
        return Result(ok=False, error=DELPHES_MISSING, backend="delphes", seed=request.seed, versions=versions)
    assert request.delphes_card is not None, "the request validator requires delphes_card for this backend"
    card = _delphes_card(request.delphes_card, executable)
    hepmc = Path(request.hepmc_path)
    if not hepmc.is_file():
        msg = f"HepMC3 file {hepmc} does not exist; run the generation step (it writes HepMC3) first"
        raise _DetectorError(msg)
    seeded = Path(request.output_path).with_suffix(".tcl")
    with atomic_path(seeded) as tmp:
        tmp.write_text(seeded_delphes_card(card.read_text(), request.seed))
    with atomic_path(request.output_path) as tmp:
        try:
            completed = subprocess.run(
                [str(executable), str(seeded), str(tmp), str(hepmc)], timeout=request.timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            msg = (
                f"{DELPHES_EXECUTABLE} did not finish within {request.timeout_s} s; raise timeout_s or use fewer events"
            )
            raise _DetectorError(msg) from None
        if completed.returncode != 0 or not tmp.is_file():
            msg = f"{DELPHES_EXECUTABLE} failed (exit code {completed.returncode}); the tool log holds its output"
            raise _DetectorError(msg)
        n_events = _delphes_entries(tmp)
    return Result(
        ok=True,
        backend="delphes",
        card=request.delphes_card,
        n_events=n_events,
        assumptions=[
            f"Detector response: Delphes ({DELPHES_EXECUTABLE}) with card {card.name}, RandomSeed {request.seed}."
        ],
        seed=request.seed,
        versions=versions,
        files=[record_file(seeded, "text"), record_file(request.output_path, "root", n_events)],
    )


def _delphes_card(name: str, executable: Path) -> Path:
    """A card in the run directory, else one shipped with Delphes (``cards/`` beside or above the executable)."""
    local = Path(name)
    if local.is_file():
        return local
    if "/" not in name:
        for directory in (executable.resolve().parent, executable.resolve().parent.parent):
            if (directory / "cards" / name).is_file():
                return directory / "cards" / name
    msg = f"Delphes card {name!r} is neither in the run directory nor among the cards shipped with Delphes"
    raise _DetectorError(msg)


def _delphes_entries(path: Path) -> int:
    import uproot  # noqa: PLC0415

    try:
        with uproot.open(path) as file:
            return int(file[TREE].num_entries)
    except Exception as exc:
        msg = f"{DELPHES_EXECUTABLE} wrote no readable TTree '{TREE}' ({type(exc).__name__}: {exc})"
        raise _DetectorError(msg) from None


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    raise SystemExit(main())
