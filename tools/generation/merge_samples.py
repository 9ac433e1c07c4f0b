"""Merge the chunks of a Pythia8 sample, generated with different seeds, into one sample with one cross section.

The ROOT TTrees "events" and, when the chunks wrote them, the HepMC3 ASCII files are concatenated in chunk order,
with the events renumbered 0..N-1; the result is a ``pythia8_generate.Result``, since the merged sample is a
Pythia8 sample like any other. Each chunk is checked first: a failed or missing chunk, a truncated HepMC3 file
(no end-of-listing footer) or a file changed since its chunk wrote it (SHA-256) gives ``ok=False`` naming the
chunk, and nothing is written. The HepMC3 events keep their own ``GenCrossSection`` attribute, the running
estimate of their chunk; the result carries the combined σ.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import Field, ValidationError

from madagents_tools.contract import (
    FileRecord,
    OutputFile,
    RunPath,
    ToolRequest,
    atomic_path,
    exit_without_teardown,
    package_versions,
    sha256_file,
    tool_main,
)
from madagents_tools.generation.pythia8_generate import Result
from madagents_tools.io.final_state import BRANCHES, ROOT_BASKET_EVENTS

__all__ = ["Request", "Result", "combine_cross_sections", "main", "run"]

HEPMC_FOOTER = b"HepMC::Asciiv3-END_EVENT_LISTING"
"""The last line of a complete HepMC3 ASCII file; a file without it was cut short."""
EVENT_LINE = b"\nE "
"""Starts an event's first line, ``E <number> <vertices> <particles>``."""
HEAD_BYTES = 1 << 20
"""Bytes read to find the header (the lines before the first event)."""
TAIL_BYTES = 4096
"""Bytes read to find the footer."""
BLOCK_BYTES = 1 << 24
"""HepMC3 files are copied in blocks of this size."""
TREE = "events"

_Writer: TypeAlias = Callable[[bytes], None]


class Request(ToolRequest):
    """Which chunks to merge and where to write the merged sample."""

    tool: Literal["merge_samples"] = "merge_samples"
    chunk_results: list[RunPath] = Field(
        min_length=2,
        description="result.json of each pythia8_generate chunk step, in chunk order.",
        examples=[["steps/01-generate_c1/result.json", "steps/01-generate_c2/result.json"]],
    )
    root_path: OutputFile = Field(default="events/events.root", description="Merged ROOT file (TTree 'events').")
    hepmc_path: OutputFile | None = Field(
        default="events/events.hepmc3",
        description="Merged HepMC3 ASCII file, from the chunks' own; null when the chunks wrote none (no Delphes).",
    )


class _MergeError(Exception):
    """A chunk cannot be merged; ``run`` reports it as ``Result(ok=False)``."""


@dataclass(frozen=True)
class _Hepmc:
    """A chunk's HepMC3 file and its layout."""

    record: FileRecord
    header_end: int
    """Offset of the first event line: what comes before is the header."""
    footer_at: int
    """Offset of the footer line."""


@dataclass(frozen=True)
class _Chunk:
    """A chunk's result, ROOT file and, when HepMC3 files are merged, its HepMC3 file."""

    name: str
    result: Result
    root: FileRecord
    hepmc: _Hepmc | None


def combine_cross_sections(chunks: Sequence[tuple[int, float, float]]) -> tuple[float, float]:
    """Combine the (n_tried, σ, δσ) of independent chunks of one process into one σ and δσ.

    Pythia8's ``sigmaGen`` is a Monte Carlo estimate of the same σ from the chunk's ``n_tried`` trial
    phase-space points: the mean of their weights, σ = Σ wⱼ / n_tried, times the accepted fraction of selected
    events, 1 without user vetoes (PYTHIA 8.3, arXiv:2203.11601; ``ProcessContainer::sigmaDelta``). Pooling the
    trials of all chunks gives the estimate one run with all of them would report: the mean of the chunk
    estimates weighted by their trials, σ = Σ nᵢσᵢ / Σ nᵢ. The chunks use different seeds, so their errors are
    independent and add in quadrature with the same weights: δσ = √(Σ (nᵢδᵢ)²) / Σ nᵢ, which for K equal
    chunks is δ/√K, the error of one run K times as long.

    Identical σ and δσ in every chunk are one shared number rather than independent estimates (the <init>
    cross section of an LHE input, fixed whatever the seed): it is returned unchanged.
    """
    if len({(sigma, error) for _, sigma, error in chunks}) == 1:
        return chunks[0][1], chunks[0][2]
    tried = sum(n for n, _, _ in chunks)
    if tried <= 0:
        msg = f"cannot combine cross sections without trials: {chunks}"
        raise ValueError(msg)
    sigma = sum(n * value for n, value, _ in chunks) / tried
    error = math.sqrt(sum((n * err) ** 2 for n, _, err in chunks)) / tried
    return sigma, error


def run(request: Request) -> Result:
    versions = package_versions("uproot", "awkward", "numpy")
    try:
        chunks = [_read_chunk(path, with_hepmc=request.hepmc_path is not None) for path in request.chunk_results]
        return _merge(request, chunks, versions)
    except _MergeError as exc:
        return Result(ok=False, error=str(exc), versions=versions)


def _merge(request: Request, chunks: list[_Chunk], versions: dict[str, str]) -> Result:
    results = [chunk.result for chunk in chunks]
    n_events = sum(result.n_events for result in results)
    hepmc_file = atomic_path(request.hepmc_path) if request.hepmc_path else contextlib.nullcontext(None)
    with hepmc_file as hepmc_tmp, atomic_path(request.root_path) as root_tmp:
        hepmc_sha256 = _merge_hepmc(chunks, hepmc_tmp) if hepmc_tmp else None
        root_sha256 = _merge_root(chunks, root_tmp)
    sigma: float | None = None
    sigma_err: float | None = None
    warnings = _disagreements(chunks)
    triples = [(r.n_tried, r.sigma_pb, r.sigma_err_pb) for r in results]
    if all(s is not None and e is not None for _, s, e in triples):
        sigma, sigma_err = combine_cross_sections([(n, s, e) for n, s, e in triples if s is not None and e is not None])
    else:
        warnings.append("a chunk has no cross section, so the merged sample has none")
    return Result(
        ok=True,
        n_events=n_events,
        n_tried=sum(result.n_tried for result in results),
        sigma_pb=sigma,
        sigma_err_pb=sigma_err,
        warnings=warnings,
        decay_tables=results[0].decay_tables,
        generation_seconds=sum(result.generation_seconds for result in results),
        seed=None,
        versions=versions | results[0].versions,  # the generator's versions made the events
        files=[
            *(
                [FileRecord(path=request.hepmc_path, sha256=hepmc_sha256, kind="hepmc3", n_events=n_events)]
                if request.hepmc_path and hepmc_sha256
                else []
            ),
            FileRecord(path=request.root_path, sha256=root_sha256, kind="root", n_events=n_events),
        ],
    )


def _disagreements(chunks: list[_Chunk]) -> list[str]:
    first = chunks[0]
    warnings = []
    for chunk in chunks[1:]:
        if chunk.result.decay_tables != first.result.decay_tables:
            warnings.append(f"the decay tables of {chunk.name} differ from those of {first.name}; kept the first")
        if chunk.result.versions != first.result.versions:
            warnings.append(f"{chunk.name} ran other package versions than {first.name}: recorded the first's")
    return warnings


def _read_chunk(path: str, *, with_hepmc: bool) -> _Chunk:
    file = Path(path)
    if not file.is_file():
        msg = f"chunk result {path} not found: its generation step has not run (or wrote elsewhere)"
        raise _MergeError(msg)
    try:
        result = Result.model_validate_json(file.read_text())
    except ValidationError as exc:
        msg = f"chunk result {path} is not a pythia8_generate result: {exc}"
        raise _MergeError(msg) from None
    if not result.ok:
        msg = f"chunk {path} failed: {result.error}"
        raise _MergeError(msg)
    records = {record.kind: record for record in result.files}
    for kind in ("hepmc3", "root") if with_hepmc else ("root",):
        if kind not in records or not Path(records[kind].path).is_file():
            msg = f"chunk {path} lists no {kind} file, or its file is missing"
            raise _MergeError(msg)
    if not with_hepmc:
        return _Chunk(path, result, records["root"], None)
    header_end, footer_at = _hepmc_layout(Path(records["hepmc3"].path), path)
    return _Chunk(path, result, records["root"], _Hepmc(records["hepmc3"], header_end, footer_at))


def _hepmc_layout(hepmc: Path, name: str) -> tuple[int, int]:
    """Offsets of the first event line and of the footer line; raises when either is missing."""
    size = hepmc.stat().st_size
    with hepmc.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
        stream.seek(max(0, size - TAIL_BYTES))
        tail = stream.read()
    if not tail.rstrip().endswith(HEPMC_FOOTER):
        msg = f"the HepMC3 file {hepmc} of chunk {name} is truncated: it does not end with {HEPMC_FOOTER.decode()}"
        raise _MergeError(msg)
    first_event = head.find(EVENT_LINE)
    if first_event < 0:
        msg = f"the HepMC3 file {hepmc} of chunk {name} has no event in its first {HEAD_BYTES} bytes"
        raise _MergeError(msg)
    return first_event + 1, size - len(tail) + tail.rfind(HEPMC_FOOTER)


def _merge_hepmc(chunks: list[_Chunk], target: Path) -> str:
    """Write the first chunk's header, every chunk's events numbered on, and one footer; return the SHA-256."""
    files = [(chunk.name, chunk.hepmc) for chunk in chunks if chunk.hepmc is not None]
    digest = hashlib.sha256()
    with target.open("wb") as out:

        def write(data: bytes) -> None:
            out.write(data)
            digest.update(data)

        first = files[0][1]
        with Path(first.record.path).open("rb") as stream:
            write(stream.read(first.header_end))
            stream.seek(first.footer_at)
            footer = stream.read()
        done = 0
        for name, hepmc in files:
            done += _copy_events(name, hepmc, done, write)
        write(footer)
    return digest.hexdigest()


def _copy_events(name: str, chunk: _Hepmc, first: int, write: _Writer) -> int:
    """Pass the chunk's events to ``write``, numbered from ``first``; check the file's hash and event count."""
    digest = hashlib.sha256()
    carry = b""
    count = 0
    offset = 0
    with Path(chunk.record.path).open("rb") as stream:
        while block := stream.read(BLOCK_BYTES):
            digest.update(block)
            events = carry + block[max(0, chunk.header_end - offset) : max(0, chunk.footer_at - offset)]
            offset += len(block)
            cut = events.rfind(b"\n") + 1  # whole lines only: an event line may straddle two blocks
            count += _renumber(events[:cut], first + count, write)
            carry = events[cut:]
    if digest.hexdigest() != chunk.record.sha256:
        msg = f"the HepMC3 file {chunk.record.path} of chunk {name} changed since the chunk wrote it (SHA-256)"
        raise _MergeError(msg)
    if carry or count != chunk.record.n_events:
        msg = f"the HepMC3 file {chunk.record.path} of chunk {name} holds {count} events, its result says "
        msg += f"{chunk.record.n_events}"
        raise _MergeError(msg)
    return count


def _renumber(lines: bytes, first: int, write: _Writer) -> int:
    """Write whole ``lines``, giving their event lines ``E <n> ...`` the numbers first, first + 1, ...; count them."""
    starts = [0] if lines.startswith(b"E ") else []
    at = lines.find(EVENT_LINE)
    while at >= 0:
        starts.append(at + 1)
        at = lines.find(EVENT_LINE, at + 1)
    previous = 0
    for number, start in enumerate(starts, first):
        write(lines[previous : start + 2] + str(number).encode())
        previous = lines.index(b" ", start + 2)
    write(lines[previous:])
    return len(starts)


def _merge_root(chunks: list[_Chunk], target: Path) -> str:
    """Copy the chunks' trees into one with the writer's branch types, ``event_number`` running 0..N-1."""
    import numpy as np  # noqa: PLC0415 - heavy imports stay out of the request/result models
    import uproot  # noqa: PLC0415

    names = _root_branches(chunks[0])
    done = 0
    with uproot.recreate(target) as out:
        tree = out.mktree(TREE, {name: BRANCHES[name] for name in names})
        for chunk in chunks:
            if chunk is not chunks[0] and (found := _root_branches(chunk)) != names:
                msg = f"chunk {chunk.name} has the branches {found}, chunk {chunks[0].name} {names}"
                raise _MergeError(msg)
            start = done
            with uproot.open(chunk.root.path, array_cache=None) as file:
                for arrays in file[TREE].iterate(step_size=ROOT_BASKET_EVENTS):
                    columns = {name: _column(arrays, name) for name in names}
                    columns["event_number"] = np.arange(done, done + len(arrays), dtype=np.int64)
                    tree.extend(columns)
                    done += len(arrays)
            if done - start != chunk.root.n_events:
                msg = f"the ROOT file {chunk.root.path} of chunk {chunk.name} holds {done - start} events, its "
                msg += f"result says {chunk.root.n_events}"
                raise _MergeError(msg)
    return sha256_file(target)


def _column(arrays: Any, name: str) -> Any:
    """Branch ``name`` of the writer, its collections zipped from their ``<name>_<field>`` branches.

    Not uproot's ``how="zip"``: it groups collections by their counts, so two collections with equal counts in
    every event (no electrons and no photons, say) would come back as one.
    """
    import awkward as ak  # noqa: PLC0415

    prefix = f"{name}_"
    if prefix + "pt" not in arrays.fields:
        return arrays[name]
    return ak.zip({field.removeprefix(prefix): arrays[field] for field in arrays.fields if field.startswith(prefix)})


def _root_branches(chunk: _Chunk) -> list[str]:
    """The writer's branches that the chunk's tree has (the jet branches only when jets were clustered)."""
    import uproot  # noqa: PLC0415

    if sha256_file(chunk.root.path) != chunk.root.sha256:
        msg = f"the ROOT file {chunk.root.path} of chunk {chunk.name} changed since the chunk wrote it (SHA-256)"
        raise _MergeError(msg)
    with uproot.open(chunk.root.path) as file:
        if TREE not in file:
            msg = f"the ROOT file {chunk.root.path} of chunk {chunk.name} has no TTree '{TREE}'"
            raise _MergeError(msg)
        keys = set(file[TREE].keys())
    return [name for name in BRANCHES if name in keys or f"{name}_pt" in keys]


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
