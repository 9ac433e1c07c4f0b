"""The detector step: Delphes with a chosen card when the sandbox has it, otherwise a parametric detector.

Both write a ROOT TTree ``Delphes`` with Delphes' branch names (``Muon.PT``, ..., ``Jet.BTag``, ``MissingET.MET``,
``Event.Weight``, and ``Muon_size``-style counters), which ``tools/io/event_io.py`` reads for the analysis. The
parametric detector (``parametric_detector.py``, card in ``detector_card.py``, both here) is not Delphes: its
result says so in ``assumptions``, which belong in the run's assumptions log (PHYSICS.md, "Detector level").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from madagents_tools.contract import (
    OutputFile,
    RunPath,
    ToolRequest,
    ToolResult,
    atomic_path,
    exit_without_teardown,
    inside_run_dir,
    package_versions,
    record_file,
    report_progress,
    tool_main,
)
from madagents_tools.detector.delphes import (
    DELPHES_EXECUTABLE,
    DELPHES_MISSING,
    CardSourceError,
    DelphesError,
    card_file_name,
    card_path,
    check_hepmc,
    find_delphes,
    flatten,
    inline_sources,
    run_delphes,
    seeded_delphes_card,
)
from madagents_tools.detector.detector_card import DetectorCard

__all__ = [
    "DELPHES_EXECUTABLE",
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
        description="delphes: a .tcl card in the run directory, the file name of a card shipped with Delphes, or "
        "atlas / cms for theirs; with delphes_card_text, the name of that card.",
        examples=["delphes_card_ATLAS.tcl", "atlas", "cards/my_card.tcl"],
    )
    delphes_card_text: str | None = Field(
        default=None,
        description="delphes: the whole card, inline (a user's card file, read by the host like a parametric card).",
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
            if not value.endswith(".tcl") and card_file_name(value) == value:
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
    card_summary: list[str] = Field(
        default_factory=list,
        description="The card's efficiencies, resolutions, isolation, jets and b-tagging at reference objects.",
    )


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

    from madagents_tools.detector.card_summary import parametric_summary  # noqa: PLC0415
    from madagents_tools.detector.parametric_detector import Tally, branch_types, detector_columns, make_streams  # noqa: PLC0415

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
        card_summary=parametric_summary(card),
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
        return uproot.open(path, array_cache=None)  # read once, in batches: no cache of what was read
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


def _card_text(card: Path) -> str:
    """A shipped card or one in the run directory, with the cards it sources inlined (CLIC's b-tagging cards)."""
    try:
        return inline_sources(card)
    except CardSourceError as exc:
        raise DelphesError(str(exc)) from None


def _delphes(request: Request, versions: dict[str, str]) -> Result:
    executable = find_delphes()
    if executable is None:
        return Result(ok=False, error=DELPHES_MISSING, backend="delphes", seed=request.seed, versions=versions)
    assert request.delphes_card is not None, "the request validator requires delphes_card for this backend"
    try:
        text = request.delphes_card_text
        card_name = request.delphes_card
        if text is None:
            card = card_path(request.delphes_card, executable)
            text, card_name = _card_text(card), card.name
        hepmc = Path(request.hepmc_path)
        check_hepmc(hepmc)
        seeded = Path(request.output_path).with_suffix(".tcl")
        with atomic_path(seeded) as tmp:
            tmp.write_text(seeded_delphes_card(text, request.seed))
        raw = Path(request.output_path).with_suffix(".delphes.root")
        with atomic_path(raw) as tmp:
            run_delphes(executable, seeded, tmp, hepmc, request.timeout_s)
        with atomic_path(request.output_path) as tmp:
            n_events = flatten(raw, tmp)
    except DelphesError as exc:
        raise _DetectorError(str(exc)) from None
    return Result(
        ok=True,
        backend="delphes",
        card=request.delphes_card,
        n_events=n_events,
        assumptions=[
            f"Detector response: Delphes ({DELPHES_EXECUTABLE}) with card {card_name}, RandomSeed {request.seed}."
        ],
        card_summary=_summary(text),
        seed=request.seed,
        versions=versions,
        # the raw file carries no event count: Delphes' TObject members are beyond uproot's full reads
        files=[
            record_file(seeded, "text"),
            record_file(raw, "root"),
            record_file(request.output_path, "root", n_events),
        ],
    )


def _summary(text: str) -> list[str]:
    from madagents_tools.detector.card_summary import delphes_summary  # noqa: PLC0415

    try:
        return delphes_summary(text)
    except (ValueError, IndexError) as exc:  # a card this reader does not follow still ran in Delphes
        return [f"the card could not be summarised ({type(exc).__name__}: {exc})"]


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
