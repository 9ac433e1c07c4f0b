"""Running Delphes (arXiv:1307.6346): where it is, which card, and how a run is judged.

``DelphesHepMC3 CARD OUT.root IN.hepmc3`` reads the generator's HepMC3 file. Its own output is captured and
quoted when it fails: Delphes reports a missing card or a broken input on its output and with its exit code.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from madagents_tools.detector.delphes_sources import CardSourceError, inline_sources
from madagents_tools.io.final_state import ROOT_BASKET_EVENTS

__all__ = [
    "DELPHES_EXECUTABLE",
    "DELPHES_MISSING",
    "SHIPPED_CARDS",
    "SHORT_NAMES",
    "CardSourceError",
    "DelphesError",
    "card_file_name",
    "check_hepmc",
    "find_delphes",
    "inline_sources",
    "run_delphes",
    "seeded_delphes_card",
    "shipped_card",
]

DELPHES_EXECUTABLE = "DelphesHepMC3"
DELPHES_MISSING = (
    "Delphes not available in this sandbox — build hep-full, set DELPHES_PATH, or use the parametric detector"
)
SHORT_NAMES = {"atlas": "delphes_card_ATLAS.tcl", "cms": "delphes_card_CMS.tcl"}
"""Workflow names of the cards Delphes ships for the LHC detectors."""
SHIPPED_CARDS = (
    "delphes_card_ALEPH.tcl",
    "delphes_card_ATLAS.tcl",
    "delphes_card_CEPC.tcl",
    "delphes_card_CMS.tcl",
    "delphes_card_CMS_NoFastJet.tcl",
    "delphes_card_CircularEE.tcl",
    "delphes_card_DELPHI.tcl",
    "delphes_card_FCCeh.tcl",
    "delphes_card_HLLHC.tcl",
    "delphes_card_IDEA.tcl",
    "delphes_card_ILD.tcl",
    "delphes_card_L3.tcl",
    "delphes_card_LHCb.tcl",
    "delphes_card_LHeC.tcl",
    "delphes_card_MuonColliderDet.tcl",
    "delphes_card_OPAL.tcl",
)
"""Cards of Delphes 3.5 that need no other file (the pile-up cards need MinBias.pileup, which is not shipped)."""
ERROR_LINES = 5
HEPMC3_HEADERS = ("HepMC::Version", "HepMC::Asciiv3")


class DelphesError(Exception):
    """A failure reported as ``Result(ok=False)``: what Delphes or its input said, in one paragraph."""


def card_file_name(name: str) -> str:
    """``atlas`` -> ``delphes_card_ATLAS.tcl``; a file name or path stays as it is."""
    return SHORT_NAMES.get(name.lower(), name)


def shipped_card(name: str) -> bool:
    """Whether ``name`` is (the short name of) a card shipped with Delphes rather than a file of the user's."""
    return card_file_name(name) in SHIPPED_CARDS


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


def card_path(name: str, executable: Path) -> Path:
    """A card in the run directory, else one shipped with Delphes (``cards/`` beside or above the executable)."""
    local = Path(name)
    if local.is_file():
        return local
    file_name = card_file_name(name)
    if "/" not in file_name:
        for directory in (executable.resolve().parent, executable.resolve().parent.parent):
            if (directory / "cards" / file_name).is_file():
                return directory / "cards" / file_name
    msg = (
        f"Delphes card {name!r} is neither in the run directory nor among the cards shipped with Delphes "
        f"(atlas, cms, or one of {', '.join(SHIPPED_CARDS)})"
    )
    raise DelphesError(msg)


def check_hepmc(path: Path) -> None:
    """Delphes reads HepMC3 ASCII: a missing, empty or other file (ROOT, LHE) is refused before it starts."""
    if not path.is_file():
        msg = (
            f"the sample has no HepMC3 file {path}: Delphes reads the generator's HepMC3 events; run the "
            "generation with hepmc_path set (it writes HepMC3 by default)"
        )
        raise DelphesError(msg)
    with path.open("rb") as stream:
        head = stream.read(64).decode(errors="replace")
    if not head.lstrip().startswith(HEPMC3_HEADERS):
        msg = f"{path} is not a HepMC3 ASCII file (it begins with {head.strip()[:30]!r}); Delphes cannot read it"
        raise DelphesError(msg)


def run_delphes(executable: Path, card: Path, output: Path, hepmc: Path, timeout_s: float) -> None:
    """Run Delphes, echoing its output into the tool log; a failure quotes its error lines."""
    try:
        completed = subprocess.run(
            [str(executable), str(card), str(output), str(hepmc)],
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except subprocess.TimeoutExpired:
        msg = f"{DELPHES_EXECUTABLE} did not finish within {timeout_s:g} s; raise timeout_s or use fewer events"
        raise DelphesError(msg) from None
    print(completed.stdout, end="", flush=True)
    if completed.returncode != 0 or not output.is_file():
        said = [line.strip() for line in completed.stdout.splitlines() if "error" in line.lower()][:ERROR_LINES]
        quoted = f": Delphes said {' / '.join(said)!r}" if said else "; the tool log holds its output"
        msg = f"{DELPHES_EXECUTABLE} failed (exit code {completed.returncode}){quoted}"
        raise DelphesError(msg)


DELPHES_FIELDS = {
    "Muon": ("PT", "Eta", "Phi", "Charge", "IsolationVar"),
    "Electron": ("PT", "Eta", "Phi", "Charge", "IsolationVar"),
    "Jet": ("PT", "Eta", "Phi", "Mass", "BTag"),
    "MissingET": ("MET", "Phi"),
    "Event": ("Number", "Weight"),
}
"""The collections and fields of Delphes' tree that the analysis reads."""


def flatten(raw: Path, output: Path) -> int:
    """Delphes' tree rewritten with the collections the analysis reads, in the parametric detector's layout.

    Delphes' own file holds TObject and TRef members that uproot cannot read, so a reader that reads every branch
    (the reviewer's event count) would fail on it; the raw file stays beside this one. Written in baskets of
    ``ROOT_BASKET_EVENTS``, so memory does not grow with the sample. Returns the event count.
    """
    import awkward as ak  # noqa: PLC0415
    import uproot  # noqa: PLC0415

    from madagents_tools.detector.parametric_detector import branch_types  # noqa: PLC0415

    n_events = 0
    with uproot.open(raw, array_cache=None) as file, uproot.recreate(output) as flat:
        has_jets, batches = _delphes_batches(file)
        tree = flat.mktree(
            "Delphes",
            branch_types(has_jets),
            field_name=lambda outer, inner: f"{outer}.{inner}",
            counter_name=lambda name: f"{name}_size",
        )
        for columns in batches:
            events = columns["Event"]
            # Delphes keeps no partonic mass: NaN says so to an analysis that asks for it
            mhat = events.Weight * math.nan
            columns["Event"] = ak.zip({"Number": events.Number, "Weight": events.Weight, "MHat": mhat})
            tree.extend(columns)
            n_events += len(events)
    return n_events


def _delphes_batches(file: Any) -> tuple[bool, Iterator[dict[str, Any]]]:
    """Whether Delphes' tree has jets, and its collections in batches; a read failure becomes a ``DelphesError``."""
    import awkward as ak  # noqa: PLC0415

    def unreadable(exc: Exception) -> DelphesError:
        return DelphesError(f"{DELPHES_EXECUTABLE} wrote no readable TTree 'Delphes' ({type(exc).__name__}: {exc})")

    try:
        tree = file["Delphes"]
        keys = set(tree.keys())
    except Exception as exc:
        raise unreadable(exc) from None

    # Delphes splits each collection into sub-branches ("Muon/Muon.PT"); a flat writer names them "Muon.PT"
    def branch(collection: str, name: str) -> str:
        nested = f"{collection}/{collection}.{name}"
        return nested if nested in keys else f"{collection}.{name}"

    has_jets = branch("Jet", "PT") in keys
    read = {collection: names for collection, names in DELPHES_FIELDS.items() if collection != "Jet" or has_jets}
    expressions = [branch(collection, name) for collection, names in read.items() for name in names]

    def batches() -> Iterator[dict[str, Any]]:
        arrays = tree.iterate(expressions, step_size=ROOT_BASKET_EVENTS, how=dict)
        while True:
            try:
                batch = next(arrays)
            except StopIteration:
                return
            except Exception as exc:
                raise unreadable(exc) from None
            yield {
                collection: ak.zip({name: batch[branch(collection, name)] for name in names})
                for collection, names in read.items()
            }

    return has_jets, batches()
