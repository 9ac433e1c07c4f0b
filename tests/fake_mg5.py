"""A stand-in MG5 installation that answers like MG5 3.5.7 with the recorded outputs in tests/fixtures/mg5.

It reads the command files the tool writes, creates the process directory, writes the recorded banner with the
requested ``set`` values substituted and the recorded 200-event LHE file. ``FAKE_MG5_MODE`` makes it fail in the
ways the real program does (hang, crash, bad process, truncated or missing events, zero σ).
``run_on_recorded_mg5`` runs a whole workflow with the stand-in in place of MG5.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from madagents.runner import start_run
from madagents.settings import Settings
from madagents.workflow import load_workflow

__all__ = ["FAKE_MG5", "install_fake_mg5", "run_on_recorded_mg5"]

FAKE_MG5 = r"""
import gzip, os, re, shutil, subprocess, sys, time
from pathlib import Path

# the local sandbox passes no FAKE_* variables to tools: then the fixtures named at installation are used
recorded = os.environ.get("FAKE_MG5_FIXTURES") or (Path(__file__).resolve().parent.parent / "FIXTURES").read_text()
fixtures, mode = Path(recorded), os.environ.get("FAKE_MG5_MODE", "ok")
lines = Path(sys.argv[1]).read_text().splitlines()
print("fake MG5 on", sys.argv[1], "in", os.getcwd(), flush=True)
if mode == "hang":
    child = subprocess.Popen(["sleep", "600"])
    Path(os.environ["FAKE_MG5_CHILD"]).write_text(str(child.pid))
    time.sleep(600)
if mode == "crash":
    sys.exit("Traceback (most recent call last):\nImportError: no module six")
for words in (line.split() for line in lines):
    if words[0] == "generate" and mode == "bad_process":
        print('Command "import generate.mg5" interrupted in sub-command:\n"generate x" with error:')
        print("InvalidCmd : No particle z3 in model")
        sys.exit(0)
    if words[0] == "output":
        cards = Path(words[1]) / "Cards"
        shutil.rmtree(words[1], ignore_errors=True)
        cards.mkdir(parents=True)
        shutil.copy(fixtures / "proc_card_mg5.dat", cards)
        for name in ("run_card.dat", "param_card.dat"):
            (cards / name).write_text(name)
    if words[0] == "launch":
        # as MG5 does for a UFO without restrict_default.dat: a script that imports its neighbours, run by path
        ufo = Path(words[1]) / "bin" / "internal" / "ufomodel"
        ufo.mkdir(parents=True, exist_ok=True)
        (ufo / "parameters.py").write_text("all_parameters = []\n")
        (ufo / "write_param_card.py").write_text("from parameters import all_parameters\n")
        if subprocess.run([sys.executable, "write_param_card.py"], cwd=ufo, check=False).returncode != 0:
            print('Command "generate_events run_01" interrupted with error:')
            print(f"FileNotFoundError : [Errno 2] No such file or directory: '{ufo / 'param_card.dat'}'")
            sys.exit(0)
        events = Path(words[1]) / "Events" / "run_01"
        events.mkdir(parents=True)
        banner = (fixtures / "run_01_tag_1_banner.txt").read_text()
        for name, value in (w[1:] for w in (line.split() for line in lines) if w[0] == "set" and len(w) == 3):
            banner = re.sub(rf"^(\s*)\S+(\s*=\s*{name}\b)", rf"\g<1>{value}\2", banner, flags=re.M)
        (events / "run_01_tag_1_banner.txt").write_text(banner)
        lhe = (fixtures / "unweighted_events_first200.lhe").read_bytes()
        if mode == "truncated":
            lhe = lhe[: len(lhe) // 2]
        if mode == "herwig":  # as aMC@NLO's run card has it by default
            banner = banner.replace("]]>\n</MGRunCard>", " HERWIG6 = parton_shower ! shower\n]]>\n</MGRunCard>")
            (events / "run_01_tag_1_banner.txt").write_text(banner)
        if mode == "zero":
            lhe = lhe.replace(b"6.496950e+02 3.609531e+00", b"0.000000e+00 0.000000e+00")
        if mode != "no_events":
            (events / "unweighted_events.lhe.gz").write_bytes(gzip.compress(lhe))
print("quit")
"""


def install_fake_mg5(root: Path, fixtures: Path | None = None) -> Path:
    """Write the stand-in into ``root`` and return ``root``, the value for MG5_PATH.

    ``fixtures`` (a directory of tests/fixtures/mg5) is what it answers with when FAKE_MG5_FIXTURES is not set.
    """
    (root / "bin").mkdir(parents=True)
    if fixtures is not None:
        (root / "FIXTURES").write_text(str(fixtures))
    (root / "bin" / "mg5_aMC").write_text(FAKE_MG5)
    (root / "VERSION").write_text("version = 3.5.7\ndate = 2024-11-29\n")
    return root


def run_on_recorded_mg5(workflow: Path, fixtures: Path, base: Path, *, events: int) -> Path:
    """Run ``workflow`` at its own seed with the stand-in answering from ``fixtures``; return the run directory.

    Everything after MG5 (shower, analysis, gates, reproduce.sh) is real. ``base`` is an empty directory.
    """
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("MG5_PATH", str(install_fake_mg5(base / "fake-mg5", fixtures)))
        start_run(
            load_workflow(workflow, events=events),
            base / "run",
            Settings(sandbox="local"),
            ["madagents", "run", "test"],
        )
    return base / "run"
