"""Runs of the MG5 tool on a stand-in MG5: σ, events, cards and files reported, and MG5's ways of failing.

The stand-in (``tests/fake_mg5.py``) is a small Python script placed where MG5's launcher would be. It reads the
command files the way MG5 does and writes the real MG5 outputs of ``tests/fixtures/mg5`` (with the requested
``set`` values applied to the banner's run card), or misbehaves as MG5 does: an error in the log with exit status 0,
a hang, a damaged event file. tests/integration/test_real_generators.py runs the real MG5.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from madagents_tools.contract import sha256_file
from madagents_tools.generation.mg5_generate import (
    MG5_MISSING,
    Result,
    generate_commands,
    run,
)
from tests.conftest import REPO
from tests.fake_mg5 import install_fake_mg5
from tests.mg5_fixtures import DRELL_YAN_CARD, LHE_200, MUMU, drell_yan


@pytest.fixture
def fake_mg5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in MG5 installation in MG5_PATH; returns the run directory the tool works in."""
    root = install_fake_mg5(tmp_path / "fake-mg5")
    monkeypatch.setenv("MG5_PATH", str(root))
    monkeypatch.setenv("FAKE_MG5_FIXTURES", str(MUMU))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    return run_dir


def test_a_run_reports_sigma_events_cards_and_every_file(fake_mg5: Path) -> None:
    result = run(drell_yan())
    assert result.ok, result.error
    assert (result.sigma_pb, result.sigma_err_pb, result.n_events) == (649.695, 3.609531, 200)
    assert (result.mg5_version, result.versions["mg5_aMC"], result.seed) == ("3.5.7", "3.5.7", 12345)
    assert result.lhe_path == "events/unweighted_events.lhe"
    assert (fake_mg5 / result.lhe_path).read_bytes() == (MUMU / LHE_200).read_bytes()
    assert result.banner_path == "mg5/process/Events/run_01/run_01_tag_1_banner.txt"
    assert (result.run_card["iseed"], result.run_card["nevents"], result.run_card["mmll"]) == ("12345", "200", "60")
    assert result.proc_card.splitlines()[-2:] == ["generate p p > mu+ mu-", "output dy"]
    assert not any(line.startswith("#") for line in result.proc_card.splitlines())
    assert result.warnings == []
    assert [(f.path, f.kind, f.n_events) for f in result.files] == [
        ("mg5/generate.mg5", "script", None),
        ("mg5/generate.log", "log", None),
        ("mg5/launch.mg5", "script", None),
        ("mg5/launch.log", "log", None),
        ("mg5/process/Cards/proc_card_mg5.dat", "card", None),
        ("mg5/process/Cards/run_card.dat", "card", None),
        ("mg5/process/Cards/param_card.dat", "card", None),
        ("mg5/process/Events/run_01/run_01_tag_1_banner.txt", "banner", None),
        ("mg5/process/Events/run_01/unweighted_events.lhe.gz", "lhe", 200),
        ("events/unweighted_events.lhe", "lhe", 200),
    ]
    for record in result.files:
        assert sha256_file(fake_mg5 / record.path) == record.sha256
    assert (fake_mg5 / "mg5/generate.mg5").read_text().splitlines() == generate_commands(drell_yan())
    assert "fake MG5 on launch.mg5 in" in (fake_mg5 / "mg5/launch.log").read_text(), "MG5 runs in commands_dir"


def test_a_second_run_replaces_the_process_directory_but_no_other(fake_mg5: Path) -> None:
    assert run(drell_yan()).ok
    again = run(drell_yan(seed=99))
    assert again.ok, again.error
    assert again.run_card["iseed"] == "99"
    (fake_mg5 / "mg5/hists").mkdir()
    (fake_mg5 / "mg5/hists/mll.json").write_text("{}")
    elsewhere = run(drell_yan(output_dir="mg5/hists"))
    assert elsewhere.error == (
        "output_dir mg5/hists exists and is not an MG5 process directory: MG5 would delete it; choose another"
    )
    assert (fake_mg5 / "mg5/hists/mll.json").read_text() == "{}"


def test_nlo_events_matched_to_another_shower_are_flagged(fake_mg5: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MG5_MODE", "herwig")
    result = run(drell_yan())
    assert result.ok, result.error
    assert result.run_card["parton_shower"] == "HERWIG6"
    assert result.warnings == [
        "the NLO events were matched to HERWIG6 (run card parton_shower); showering them with Pythia8 needs "
        "run_card parton_shower = PYTHIA8"
    ]


def test_mg5_missing_gives_the_documented_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MG5_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no mg5_aMC there
    monkeypatch.chdir(tmp_path)
    result = run(drell_yan())
    assert not result.ok
    assert result.error == MG5_MISSING == "MG5 not available in this sandbox — build hep-full or set MG5_PATH"
    assert list(tmp_path.iterdir()) == [], "nothing is written without MG5"


def test_mg5_on_path_is_found(fake_mg5: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launcher = tmp_path / "fake-mg5" / "bin" / "mg5_aMC"
    launcher.chmod(0o755)
    monkeypatch.delenv("MG5_PATH")
    monkeypatch.setenv("PATH", f"{launcher.parent}{os.pathsep}{os.environ['PATH']}")
    result = run(drell_yan())
    assert result.ok, result.error


def test_a_wrong_mg5_path_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG5_PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    result = run(drell_yan())
    assert result.error == f"MG5_PATH={tmp_path} holds no bin/mg5_aMC. {MG5_MISSING}"


def test_an_error_in_the_log_fails_although_mg5_exits_0(fake_mg5: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MG5_MODE", "bad_process")
    result = run(drell_yan())
    assert not result.ok
    assert result.error == (
        'MG5 step \'generate\' failed: Command "import generate.mg5" interrupted in sub-command: "generate x" with '
        "error: InvalidCmd : No particle z3 in model (MG5 exit status 0; full log mg5/generate.log)"
    )
    assert [f.path for f in result.files] == ["mg5/generate.mg5", "mg5/generate.log"]
    assert not (fake_mg5 / "mg5/launch.mg5").exists(), "launch ran after a failed generate"


def test_a_crash_is_reported_with_its_last_line(fake_mg5: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MG5_MODE", "crash")
    result = run(drell_yan())
    assert result.error == (
        "MG5 step 'generate' failed: it stopped with: ImportError: no module six "
        "(MG5 exit status 1; full log mg5/generate.log)"
    )


def test_too_few_events_fail_with_both_numbers(fake_mg5: Path) -> None:
    result = run(drell_yan(n_events=250))
    assert not result.ok
    assert result.error == "the LHE file events/unweighted_events.lhe holds 200 events but 250 were requested"


def test_settings_missing_from_the_banner_fail(fake_mg5: Path) -> None:
    # the stand-in applies run-card `set`s to the banner but ignores param-card ones and unknown names
    result = run(drell_yan(param_card={"mass 6": 172.5}, run_card={**DRELL_YAN_CARD, "mmlll": 60}))
    assert not result.ok
    assert result.error == (
        "MG5 did not apply the requested cards: mmlll is not a parameter of the run card MG5 used; "
        "param card mass 6 = 173.0, 172.5 requested (see mg5/process/Events/run_01/run_01_tag_1_banner.txt)"
    )


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("no_events", r"^MG5 reported no error but wrote no unweighted_events.lhe.gz or events.lhe.gz in mg5/process"),
        ("truncated", r"^the LHE file events/unweighted_events.lhe is damaged: Parse Error"),
        ("zero", r"^MG5 returned a cross section of 0.0 pb: check the cuts, widths and beams$"),
    ],
)
def test_missing_or_damaged_events_fail(
    fake_mg5: Path, monkeypatch: pytest.MonkeyPatch, mode: str, message: str
) -> None:
    monkeypatch.setenv("FAKE_MG5_MODE", mode)
    result = run(drell_yan())
    assert not result.ok
    assert re.search(message, result.error or ""), result.error


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="checks the killed processes in /proc (Linux)")
def test_a_hanging_mg5_is_killed_with_its_children_at_the_timeout(
    fake_mg5: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MG5_MODE", "hang")
    monkeypatch.setenv("FAKE_MG5_CHILD", str(tmp_path / "child.pid"))
    start = time.monotonic()
    result = run(drell_yan(timeout_s=3))
    assert time.monotonic() - start < 20
    assert result.error == (
        "MG5 step 'generate' was stopped at the request's timeout (3 s in all); mg5/generate.log shows how far"
    )
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child), "a process MG5 started outlived the timeout"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its new parent has not reaped it yet


def test_command_line_without_mg5_writes_a_failed_result(tmp_path: Path) -> None:
    (tmp_path / "request.json").write_text(drell_yan().model_dump_json())
    env = {"PATH": str(tmp_path), "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    process = subprocess.run(
        [sys.executable, "-m", "madagents_tools.generation.mg5_generate", "request.json", "result.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == 1, process.stderr
    result = Result.model_validate_json((tmp_path / "result.json").read_text())
    assert (result.ok, result.error) == (False, MG5_MISSING)
