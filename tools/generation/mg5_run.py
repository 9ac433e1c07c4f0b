"""Run MG5 on the command files of :mod:`.mg5_generate` and judge the run from its log and outputs.

MG5 runs as ``python3 bin/mg5_aMC FILE`` (its own launcher, under the ``python3`` on PATH, which must provide
MG5's one dependency ``six``) in the command files' directory and in a process group of its own, with stdin
closed: a question it was not expected to ask gets end-of-file instead of waiting forever, and a timeout kills
every compiler and MadEvent job it started.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from madagents_tools.contract import FileKind, FileRecord, atomic_path, record_file
from madagents_tools.generation.mg5_output import (
    Banner,
    CrossSection,
    init_cross_section,
    log_failure,
    parse_banner,
    read_lhe_head,
    run_card_values,
    same_setting,
    slha_value,
    strip_ansi,
)

if TYPE_CHECKING:
    from madagents_tools.generation.mg5_generate import Request

__all__ = ["Mg5", "Mg5Error", "Outcome", "find_mg5", "generate_events"]

LOG_TAIL_LINES = 30
"""Lines of MG5's log echoed into the tool's own output when a step fails."""
SIGMA_AGREEMENT = 1e-4
"""Relative agreement expected between the banner's integrated weight and the LHE <init> cross section."""
EVENT_FILES = ("unweighted_events.lhe.gz", "events.lhe.gz")
"""MadEvent (LO) and aMC@NLO names of the event file in ``Events/run_01``."""


class Mg5Error(Exception):
    """A failure reported as ``Result(ok=False)``, with the files written up to it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.files: list[FileRecord] = []


@dataclass(frozen=True)
class Mg5:
    """An MG5_aMC installation."""

    root: Path
    version: str
    python: str
    """The interpreter that runs MG5's launcher: ``python3`` on PATH, as the launcher's ``#!`` line would pick."""

    @property
    def launcher(self) -> Path:
        return self.root / "bin" / "mg5_aMC"


@dataclass
class Outcome:
    """What a successful run produced."""

    sigma: CrossSection
    banner: Banner
    banner_path: str
    run_card: dict[str, str]
    n_events: int
    generate_seconds: float
    launch_seconds: float
    files: list[FileRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def find_mg5(environ: Mapping[str, str], missing: str) -> Mg5:
    """MG5 from ``MG5_PATH`` (the directory holding ``bin/mg5_aMC``), else ``mg5_aMC`` on ``PATH``."""
    configured = environ.get("MG5_PATH")
    if configured:
        root = Path(configured)
        if not (root / "bin" / "mg5_aMC").is_file():
            msg = f"MG5_PATH={configured} holds no bin/mg5_aMC. {missing}"
            raise Mg5Error(msg)
    else:
        found = shutil.which("mg5_aMC", path=environ.get("PATH"))
        if found is None:
            raise Mg5Error(missing)
        root = Path(found).resolve().parent.parent
    version = "unknown"
    with contextlib.suppress(OSError):
        for line in (root / "VERSION").read_text().splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "version":
                version = value.strip()
    python = shutil.which("python3", path=environ.get("PATH")) or sys.executable
    return Mg5(root=root, version=version, python=python)


def generate_events(mg5: Mg5, request: Request, generate: list[str] | None, launch: list[str]) -> Outcome:
    """Run both steps (launch only, on a reused process directory, when ``generate`` is None) and check what they
    wrote; raise :class:`Mg5Error` on any failure."""
    commands, process = Path(request.commands_dir), Path(request.output_dir)
    if process.exists() and not (process / "Cards" / "proc_card_mg5.dat").is_file():
        msg = f"output_dir {process} exists and is not an MG5 process directory: MG5 would delete it; choose another"
        raise Mg5Error(msg)
    deadline = time.monotonic() + request.timeout_s
    try:
        generate_seconds = 0.0
        if generate is not None:
            generate_seconds = _step(mg5, commands, "generate", generate, deadline, request.timeout_s)
        if not (process / "Cards" / "proc_card_mg5.dat").is_file():
            msg = f"MG5 reported no error but wrote no process directory {process}; see {commands / 'generate.log'}"
            raise Mg5Error(msg)
        launch_seconds = _step(mg5, commands, "launch", launch, deadline, request.timeout_s)
        outcome = _outputs(request, commands / "launch.log", generate_seconds, launch_seconds)
    except Mg5Error as exc:
        exc.files = _records(request, lhe=None, n_events=None)
        raise
    print(
        f"mg5_generate: MG5 {mg5.version}: sigma = {outcome.sigma.value_pb:.6g} +- {outcome.sigma.error_pb:.4g} pb, "
        f"{outcome.n_events} events; generate {generate_seconds:.1f} s, launch {launch_seconds:.1f} s",
        flush=True,
    )
    return outcome


def _step(mg5: Mg5, commands: Path, name: str, lines: list[str], deadline: float, timeout_s: float) -> float:
    """Write ``<name>.mg5``, run MG5 on it in ``commands`` with its output in ``<name>.log``; return seconds."""
    commands.mkdir(parents=True, exist_ok=True)
    script, log = commands / f"{name}.mg5", commands / f"{name}.log"
    script.write_text("\n".join(lines) + "\n")
    # MG5 puts its own directory first on sys.path; a PYTHONPATH of ours (with a tests/ package) has no business there.
    # PYTHONSAFEPATH (ours, for `python -m madagents_tools.X`) would break MG5's scripts that import their neighbours: a
    # UFO without restrict_default.dat has its param_card written by `python write_param_card.py` in the model directory
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    start = time.monotonic()
    with (
        log.open("w") as output,
        subprocess.Popen(
            [mg5.python, str(mg5.launcher), script.name],
            cwd=commands,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as process,
    ):
        exit_code: int | None = None
        try:
            exit_code = process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            pass
        finally:
            _kill_group(process)
    seconds = time.monotonic() - start
    text = strip_ansi(log.read_text(errors="replace"))
    if exit_code is None:
        msg = f"MG5 step '{name}' was stopped at the request's timeout ({timeout_s:g} s in all); {log} shows how far"
        raise Mg5Error(msg)
    last = next((line for line in reversed(text.splitlines()) if line.strip()), "no output")
    failure = log_failure(text) or (f"it stopped with: {last.strip()}" if exit_code else None)
    if failure is not None:
        print("\n".join(text.splitlines()[-LOG_TAIL_LINES:]), flush=True)
        msg = f"MG5 step '{name}' failed: {failure} (MG5 exit status {exit_code}; full log {log})"
        raise Mg5Error(msg)
    print(f"mg5_generate: step '{name}' finished in {seconds:.1f} s", flush=True)
    return seconds


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill MG5 and everything it started (compilers, MadEvent jobs), which share its process group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _outputs(request: Request, log: Path, generate_seconds: float, launch_seconds: float) -> Outcome:
    events_dir = Path(request.output_dir) / "Events" / "run_01"
    compressed = next((events_dir / name for name in EVENT_FILES if (events_dir / name).is_file()), None)
    banners = sorted(events_dir.glob("*_banner.txt"))
    if compressed is None or not banners:
        what = " or ".join(EVENT_FILES) if compressed is None else "banner"
        msg = f"MG5 reported no error but wrote no {what} in {events_dir}; the end of {log} may say why"
        raise Mg5Error(msg)
    _gunzip(compressed, Path(request.lhe_path))
    try:
        sigma = init_cross_section(read_lhe_head(request.lhe_path))
    except ValueError as exc:
        msg = f"cannot read the cross section of {request.lhe_path}: {exc}"
        raise Mg5Error(msg) from None
    if not sigma.value_pb > 0:
        msg = f"MG5 returned a cross section of {sigma.value_pb} pb: check the cuts, widths and beams"
        raise Mg5Error(msg)
    n_events = _count_events(request.lhe_path)
    if n_events != request.n_events:
        msg = f"the LHE file {request.lhe_path} holds {n_events} events but {request.n_events} were requested"
        raise Mg5Error(msg)
    banner = parse_banner(banners[-1].read_text(errors="replace"))
    run_card = run_card_values(banner.run_card)
    problems = _unapplied(request, run_card, banner.param_card)
    if problems:
        msg = f"MG5 did not apply the requested cards: {'; '.join(problems)} (see {banners[-1]})"
        raise Mg5Error(msg)
    return Outcome(
        sigma=sigma,
        banner=banner,
        banner_path=str(banners[-1]),
        run_card=run_card,
        n_events=n_events,
        generate_seconds=generate_seconds,
        launch_seconds=launch_seconds,
        files=_records(request, lhe=compressed, n_events=n_events, banner=banners[-1]),
        warnings=_sigma_warnings(banner, sigma) + _shower_warnings(run_card) + _string_mismatches(request, run_card),
    )


def _gunzip(source: Path, target: Path) -> None:
    try:
        with gzip.open(source, "rb") as packed, atomic_path(target) as tmp, tmp.open("wb") as unpacked:
            shutil.copyfileobj(packed, unpacked, 1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        msg = f"cannot decompress {source} ({exc}): MG5 wrote a damaged event file"
        raise Mg5Error(msg) from None


def _count_events(path: str) -> int:
    """Events in the LHE file, read with pylhe (a truncated or malformed file is an error, not a short count)."""
    import pylhe  # noqa: PLC0415 - heavy import, only after MG5 has run

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Parse Error", category=RuntimeWarning)  # pylhe's way to stop
        try:
            return sum(1 for _ in pylhe.LHEFile.fromfile(path).events)
        except (RuntimeWarning, ValueError) as exc:
            msg = f"the LHE file {path} is damaged: {exc}"
            raise Mg5Error(msg) from None


def _unapplied(request: Request, run_card: dict[str, str], param_card: str) -> list[str]:
    """Requested numeric settings that the banner (the cards MG5 really used) does not show."""
    problems = []
    wanted = {"nevents": request.n_events, "iseed": request.seed, **request.run_card}
    for name, value in wanted.items():
        found = run_card.get(name)
        if found is None:
            problems.append(f"{name} is not a parameter of the run card MG5 used")
        elif not isinstance(value, str) and not same_setting(value, found):
            problems.append(f"run card {name} = {found}, {value} requested")
    for key, value in request.param_card.items():
        block, *ids = key.split()
        used = slha_value(param_card, block, tuple(int(i) for i in ids))
        if used is None or not math.isclose(used, value, rel_tol=1e-5, abs_tol=1e-12):
            problems.append(f"param card {key} = {used}, {value} requested")
    return problems


def _string_mismatches(request: Request, run_card: dict[str, str]) -> list[str]:
    """Text settings MG5 may have reformatted (e.g. a dict): a mismatch is reported, not a failure."""
    return [
        f"run card {name} = {run_card[name]!r} in the banner, {value!r} requested"
        for name, value in request.run_card.items()
        if isinstance(value, str) and name in run_card and not same_setting(value, run_card[name])
    ]


def _sigma_warnings(banner: Banner, sigma: CrossSection) -> list[str]:
    if banner.sigma_pb is None or math.isclose(banner.sigma_pb, sigma.value_pb, rel_tol=SIGMA_AGREEMENT):
        return []
    return [f"the banner's integrated weight {banner.sigma_pb} pb differs from the LHE <init> {sigma.value_pb} pb"]


def _shower_warnings(run_card: dict[str, str]) -> list[str]:
    """aMC@NLO events carry MC counterterms for one shower (run card parton_shower), which must then be used."""
    shower = run_card.get("parton_shower", "PYTHIA8").upper()
    if shower in ("PYTHIA8", "PYTHIA8.0"):
        return []
    return [
        f"the NLO events were matched to {shower} (run card parton_shower); showering them with Pythia8 needs "
        "run_card parton_shower = PYTHIA8"
    ]


def _records(
    request: Request, *, lhe: Path | None, n_events: int | None, banner: Path | None = None
) -> list[FileRecord]:
    """Every file of the run that exists: command files and logs, cards, banner, events."""
    commands, cards = Path(request.commands_dir), Path(request.output_dir) / "Cards"
    wanted: list[tuple[Path, FileKind]] = [
        (commands / "generate.mg5", "script"),
        (commands / "generate.log", "log"),
        (commands / "launch.mg5", "script"),
        (commands / "launch.log", "log"),
        *((cards / name, "card") for name in ("proc_card_mg5.dat", "run_card.dat", "param_card.dat")),
    ]
    if banner is not None:
        wanted.append((banner, "banner"))
    records = [record_file(path, kind) for path, kind in wanted if path.is_file()]
    if lhe is not None:
        records += [record_file(lhe, "lhe", n_events), record_file(request.lhe_path, "lhe", n_events)]
    return records
