"""Read an events ROOT file, particle level or detector level, into the record layout of the analysis.

Two layouts are understood:

- the particle-level TTree ``events`` of the generation tools (``tools/io/final_state.py``): branches ``weight``,
  ``met_pt``, ``muon_pt``, ..., ``nmuon``;
- a Delphes TTree ``Delphes``, written by Delphes itself or by ``tools/detector/detector.py``: ``Event.Weight``,
  ``MissingET.MET``, ``Muon.PT``, ..., ``Muon_size``.

Either way the caller asks for particle-level branch names and gets an awkward array of records with those
fields, one record per event. Delphes branches map back as listed in ``DELPHES_BRANCHES``; what a Delphes file
lacks gets a documented default (``DELPHES_DEFAULTS``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "DELPHES_BRANCHES",
    "DELPHES_DEFAULTS",
    "DELPHES_TREE",
    "PARTICLE_TREE",
    "EventFileError",
    "iterate_events",
    "read_events",
]

PARTICLE_TREE = "events"
DELPHES_TREE = "Delphes"
_COLLECTIONS = {"muon": "Muon", "electron": "Electron", "photon": "Photon", "jet": "Jet"}
_FIELDS = {
    "pt": "PT",
    "eta": "Eta",
    "phi": "Phi",
    "mass": "Mass",
    "charge": "Charge",
    "iso": "IsolationVar",
    "btag": "BTag",
}
DELPHES_BRANCHES: dict[str, str] = {
    "event_number": "Event.Number",
    "weight": "Event.Weight",
    "mhat": "Event.MHat",  # written by tools/detector/detector.py only; not a Delphes field
    "met_pt": "MissingET.MET",
    "met_phi": "MissingET.Phi",
    **{f"n{name}": f"{branch}_size" for name, branch in _COLLECTIONS.items()},
    **{
        f"{name}_{field}": f"{branch}.{leaf}"
        for name, branch in _COLLECTIONS.items()
        for field, leaf in _FIELDS.items()
    },
}
"""Particle-level branch -> Delphes branch. Per-event Delphes objects (Event, MissingET) are lists of one."""
_PER_EVENT = ("event_number", "weight", "mhat", "met_pt", "met_phi")

LEPTON_MASS_GEV = {"muon": 0.1056583755, "electron": 0.00051099895}
"""PDG masses: Delphes stores no mass for leptons."""
DELPHES_DEFAULTS: dict[str, str] = {
    "event_number": "the entry number",
    "weight": "1.0",
    "mhat": "NaN",
    "muon_iso": "0.0 (Delphes' isolation module has already cut on it)",
    "electron_iso": "0.0 (Delphes' isolation module has already cut on it)",
    "photon_mass": "0.0",
    "muon_mass": "the PDG muon mass",
    "electron_mass": "the PDG electron mass",
}
"""What a branch is when the Delphes file lacks it. ``jet_btag`` is bit 0 of ``Jet.BTag`` (the first tagger)."""


class EventFileError(Exception):
    """The file cannot give the requested events; the message says why and what to do."""


BATCH_EVENTS = 10_000
"""Events per batch of ``iterate_events``: a few MB of columns for a typical analysis, however large the file
(measured with uproot's array cache off: peak RSS the same for 10⁴ and 10⁵ events; batches of 10⁵ add 8 MB)."""

Batch = Callable[[int, int], Any]
"""Reads the entries [start, stop) of a tree as an awkward array of records."""


def read_events(path: str | Path, branches: Sequence[str], *, max_events: int | None = None) -> Any:
    """The requested particle-level ``branches`` of the first ``max_events`` events (all if None), in one array.

    Raises:
        EventFileError: as ``iterate_events``.
    """
    import awkward as ak  # noqa: PLC0415

    batches = list(iterate_events(path, branches, max_events=max_events))
    return batches[0] if len(batches) == 1 else ak.concatenate(batches)


def iterate_events(
    path: str | Path, branches: Sequence[str], *, max_events: int | None = None, batch_events: int = BATCH_EVENTS
) -> Iterator[Any]:
    """The requested particle-level ``branches`` of the first ``max_events`` events, ``batch_events`` at a time.

    Memory stays that of one batch however many events the file holds.

    Raises:
        EventFileError: the file is missing, corrupt, holds no known TTree or no events, or lacks a branch (before
        the first batch), or a batch cannot be read (a truncated file).
    """
    import uproot  # noqa: PLC0415 - heavy, only needed here

    path = Path(path)
    if not path.is_file():
        msg = f"events file {path} does not exist; run the generation step first"
        raise EventFileError(msg)
    try:
        file = uproot.open(path, array_cache=None)  # its default keeps up to 100 MB of batches already read
    except Exception as exc:  # uproot reports a damaged file through many exception types
        raise _corrupt(path, exc) from None
    with file:
        name, n_entries, read = _guarded(path, lambda: _tree_reader(file, path, branches))
        n_events = n_entries if max_events is None else min(n_entries, max_events)
        if n_events == 0:
            msg = f"the TTree '{name}' in {path} holds no events"
            raise EventFileError(msg)
        for start in range(0, n_events, batch_events):
            yield _guarded(path, functools.partial(read, start, min(start + batch_events, n_events)))


T = TypeVar("T")


def _guarded(path: Path, call: Callable[[], T]) -> T:
    try:
        return call()
    except EventFileError:
        raise
    except Exception as exc:  # uproot reports a damaged file through many exception types
        raise _corrupt(path, exc) from None


def _corrupt(path: Path, exc: Exception) -> EventFileError:
    return EventFileError(f"{path} cannot be read as ROOT ({type(exc).__name__}: {exc}); it is corrupt or truncated")


def _tree_reader(file: Any, path: Path, branches: Sequence[str]) -> tuple[str, int, Batch]:
    """The tree's name, its number of entries and how to read a range of them, once its branches are checked."""
    keys = file.keys(cycle=False)
    if PARTICLE_TREE in keys:
        tree = file[PARTICLE_TREE]
        return PARTICLE_TREE, tree.num_entries, _particle_reader(tree, path, branches)
    if DELPHES_TREE in keys:
        tree = file[DELPHES_TREE]
        return DELPHES_TREE, tree.num_entries, _delphes_reader(tree, path, branches)
    msg = (
        f"{path} has neither a TTree '{PARTICLE_TREE}' (particle level) nor '{DELPHES_TREE}' "
        f"(detector level); it holds {keys}"
    )
    raise EventFileError(msg)


def _particle_reader(tree: Any, path: Path, branches: Sequence[str]) -> Batch:
    available = set(tree.keys())
    missing = [branch for branch in branches if branch not in available]
    if "jet_pt" in missing:
        msg = "the events file has no jet branches; the generation step must cluster jets (generator jets setting)"
        raise EventFileError(msg)
    if missing:
        msg = f"{path} lacks the branches {missing} that the analysis needs; it has {sorted(available)}"
        raise EventFileError(msg)
    return lambda start, stop: tree.arrays(list(branches), entry_start=start, entry_stop=stop)


def _delphes_reader(tree: Any, path: Path, branches: Sequence[str]) -> Batch:
    # real Delphes files nest the leaves under their collection (Muon/Muon.PT); tools/detector/detector.py does not
    found = {branch.name: branch for branch in tree.itervalues(recursive=True)}
    unknown = [branch for branch in branches if branch not in DELPHES_BRANCHES]
    if unknown:
        msg = f"{path} is a Delphes file; these branches have no Delphes counterpart: {unknown}"
        raise EventFileError(msg)
    missing = sorted({needed for branch in branches for needed in _needs(branch) if needed not in found})
    if any(name.startswith("Jet.") for name in missing):
        msg = f"{path} has no Jet branches; the Delphes card's TreeWriter must write the 'Jet' collection"
        raise EventFileError(msg)
    if missing:
        msg = f"{path} lacks the Delphes branches {missing} that the analysis needs"
        raise EventFileError(msg)

    def read(start: int, stop: int) -> Any:
        import awkward as ak  # noqa: PLC0415

        columns = {}
        for branch in branches:
            source = found.get(DELPHES_BRANCHES[branch])
            if source is not None:
                columns[branch] = _converted(branch, source.array(entry_start=start, entry_stop=stop))
            else:
                collection = branch.partition("_")[0]
                shape = (
                    found[f"{_COLLECTIONS[collection]}.PT"].array(entry_start=start, entry_stop=stop)
                    if collection in _COLLECTIONS
                    else None
                )
                columns[branch] = _default(branch, shape, start, stop)
        return ak.zip(columns, depth_limit=1)

    return read


def _needs(branch: str) -> list[str]:
    """The Delphes branches a particle-level branch is read from; a defaulted field needs its collection's PT."""
    if branch not in DELPHES_DEFAULTS:
        return [DELPHES_BRANCHES[branch]]
    collection = branch.partition("_")[0]
    return [f"{_COLLECTIONS[collection]}.PT"] if collection in _COLLECTIONS else []


def _converted(branch: str, values: Any) -> Any:
    """A Delphes column in the type of the particle-level branch."""
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    field = branch.partition("_")[2]
    if branch in _PER_EVENT:  # Event and MissingET are lists of one object per event
        return ak.fill_none(ak.firsts(values, axis=1), -1 if branch == "event_number" else np.nan)
    if field == "btag":
        return ak.values_astype(values & 1, np.int32)  # bit 0: the BTagging module with BitNumber 0
    if field == "charge":
        return ak.values_astype(values, np.int32)
    if branch.startswith("n"):
        return ak.values_astype(values, np.int64)
    return ak.values_astype(values, np.float64)


def _default(branch: str, shape: Any, start: int, stop: int) -> Any:
    """The value of DELPHES_DEFAULTS for a branch the file lacks; ``shape`` is its collection's PT, if any."""
    import awkward as ak  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    if branch == "event_number":
        return np.arange(start, stop, dtype=np.int64)
    if branch in ("weight", "mhat"):
        return np.full(stop - start, 1.0 if branch == "weight" else np.nan)
    collection, _, field = branch.partition("_")
    value = LEPTON_MASS_GEV.get(collection, 0.0) if field == "mass" else 0.0
    return ak.full_like(shape, value, dtype=np.float64)
