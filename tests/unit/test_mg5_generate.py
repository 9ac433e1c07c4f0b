"""The MG5 tool: command files, request validation, parsers on real MG5 output, and runs of a stand-in and of MG5.

The stand-in (``FAKE_MG5``) is a small Python script placed where MG5's launcher would be. It reads the command
files the way MG5 does and writes the real MG5 outputs of ``tests/fixtures/mg5`` (with the requested ``set``
values applied to the banner's run card), or misbehaves as MG5 does: an error in the log with exit status 0, a
hang, a damaged event file. tests/integration/test_real_generators.py runs the real MG5.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from madagents_tools.contract import sha256_file
from madagents_tools.generation.mg5_generate import (
    MG5_MISSING,
    Request,
    Result,
    generate_commands,
    launch_commands,
    run,
)
from madagents_tools.generation.mg5_output import (
    count_lhe_events,
    init_cross_section,
    log_failure,
    parse_banner,
    read_lhe_head,
    run_card_values,
    same_setting,
    slha_value,
)
from tests.conftest import REPO
from tests.fake_mg5 import install_fake_mg5

FIXTURES = REPO / "tests" / "fixtures" / "mg5"
MUMU, TTBAR = FIXTURES / "pp_mumu", FIXTURES / "pp_ttbar"
LHE_200 = "unweighted_events_first200.lhe"
BANNER = "run_01_tag_1_banner.txt"
DRELL_YAN_CARD: dict[str, Any] = {"ebeam1": 6500, "ebeam2": 6500, "mmll": 60}


def drell_yan(**changes: Any) -> Request:
    fields: dict[str, Any] = {"processes": ["p p > mu+ mu-"], "run_card": DRELL_YAN_CARD, "seed": 12345}
    return Request(**(fields | {"n_events": 200} | changes))


# ---------------------------------------------------------------- parsers, on real MG5 3.5.7 output


@pytest.mark.parametrize(
    ("directory", "sigma", "error"), [(MUMU, 649.695, 3.609531), (TTBAR, 503.554, 2.01132)], ids=["mumu", "ttbar"]
)
def test_cross_section_from_the_lhe_init_block(directory: Path, sigma: float, error: float) -> None:
    cross_section = init_cross_section(read_lhe_head(directory / LHE_200))
    assert cross_section.value_pb == pytest.approx(sigma, rel=1e-12)
    assert cross_section.error_pb == pytest.approx(error, rel=1e-12)
    assert cross_section.unit_weight_pb == pytest.approx(sigma, rel=1e-12), "MG5 LO events all weigh σ"


@pytest.mark.parametrize(("directory", "n_events", "sigma"), [(MUMU, 1000, 649.695), (TTBAR, 500, 503.554)])
def test_banner_gives_version_generation_info_and_the_cards_used(directory: Path, n_events: int, sigma: float) -> None:
    banner = parse_banner((directory / BANNER).read_text())
    assert banner.mg5_version == "3.5.7"
    assert banner.n_events == n_events
    assert banner.sigma_pb == pytest.approx(sigma, rel=1e-12)
    assert banner.proc_card.strip() == (directory / "proc_card_mg5.dat").read_text().strip()
    used = run_card_values(banner.run_card)
    assert used == run_card_values((directory / "run_card_from_banner.dat").read_text())
    assert (used["iseed"], used["nevents"], used["ebeam1"], used["pdlabel"]) == (
        "12345",
        str(n_events),
        "6500.0",
        "nn23lo1",
    )
    assert slha_value(banner.param_card, "MASS", (6,)) == 173.0
    assert slha_value(banner.param_card, "decay", (6,)) == pytest.approx(1.4915)
    assert slha_value(banner.param_card, "mass", (7,)) is None


def test_the_lhe_header_carries_the_same_banner() -> None:
    from_lhe = parse_banner(read_lhe_head(MUMU / LHE_200))
    assert from_lhe == parse_banner((MUMU / BANNER).read_text())
    assert run_card_values(from_lhe.run_card)["mmll"] == "60.0"


def test_events_are_counted_in_plain_and_gzipped_files(tmp_path: Path) -> None:
    packed = tmp_path / "events.lhe.gz"
    packed.write_bytes(gzip.compress((MUMU / LHE_200).read_bytes()))
    assert count_lhe_events(MUMU / LHE_200) == count_lhe_events(packed) == count_lhe_events(TTBAR / LHE_200) == 200
    assert init_cross_section(read_lhe_head(packed)).value_pb == 649.695


def test_several_processes_add_up_in_the_init_block() -> None:
    # as MG5 3.5.7 wrote it for `generate p p > mu+ mu- @1` + `add process p p > e+ e- @2`
    text = "<init>\n2212 2212 6.5e+03 6.5e+03 0 0 247000 247000 -4 2\n6.56823e+02 7.179558 1.31735e+03 1\n"
    text += "6.60527e+02 5.758789 1.31735e+03 2\n</init>"
    cross_section = init_cross_section(text)
    assert cross_section.value_pb == pytest.approx(1317.35)
    assert cross_section.error_pb == pytest.approx(math.hypot(7.179558, 5.758789))
    assert cross_section.unit_weight_pb == 1317.35


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<LesHouchesEvents>\n<event>\n</event>", r"no <init> block"),
        ("<init>\n2212 2212 6500 6500 0 0 0 0 -4 2\n1.0 0.1 1.0 1\n</init>", r"announces 2 processes but lists 1"),
        ("<init>\n2212 2212 6500\n</init>", r"malformed <init> block"),
    ],
)
def test_a_bad_init_block_is_an_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        init_cross_section(text)


def test_the_logs_of_successful_launches_show_no_failure() -> None:
    assert log_failure((MUMU / "launch_log_excerpt.txt").read_text()) is None
    assert log_failure((TTBAR / "launch_log_excerpt.txt").read_text()) is None


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (  # as MG5 3.5.7 printed it for a misspelt particle
            'generate p p > mu+ mu- z3\n\x1b[1;31mCommand "import mg5/generate.mg5" interrupted in sub-command:\n'
            '"generate p p > mu+ mu- z3" with error:\nInvalidCmd : No particle z3 in model\x1b[0m\n'
            "command not executed: output process -f\n",
            'Command "import mg5/generate.mg5" interrupted in sub-command: "generate p p > mu+ mu- z3" with error: '
            "InvalidCmd : No particle z3 in model",
        ),
        (
            'Command "launch dy" interrupted with error:\nZeroResult : See https://cp3.example/FAQ\n\nmore',
            'Command "launch dy" interrupted with error: ZeroResult : See https://cp3.example/FAQ',
        ),
        ("refine 1000\nSurvey return zero cross section.\n   Typical reasons", "Survey return zero cross section."),
        (
            "\x1b[1;34mWARNING: invalid set command mmlll 60  \x1b[0m\nINFO: next",
            "WARNING: invalid set command mmlll 60",
        ),
        (  # as MG5 3.5.7 printed it offline for a model it does not ship
            "import model loop_sm\nError detected in sub-command import model loop_sm\nwrite debug file MG5_debug \n"
            "If you need help with this issue please contact us on https://answers.launchpad.net/mg5amcnlo\n"
            "str : Model not found locally and Impossible to connect any of us servers.\n",
            "Error detected in sub-command import model loop_sm "
            "str : Model not found locally and Impossible to connect any of us servers.",
        ),
        ('Error detected in "set nb_core x"\nno explanation', 'Error detected in "set nb_core x" no explanation'),
        (  # as MG5 3.5.7 printed it when aMC@NLO's switch question got a MadEvent switch
            "found line : detector=OFF\nThis answer is not valid for current question. Keep it for next question and "
            "use here default: EOF\nINFO: will run in mode: noshower",
            "This answer is not valid for current question. Keep it for next question and use here default: EOF",
        ),
        (
            'quit\ndone\n\x1b[1;34mCommand "done" not recognized, please try again\x1b[0m',
            'Command "done" not recognized, please try again',
        ),
        ("compile\nA Critical error occurred in madevent\n", "A Critical error occurred in madevent"),
    ],
    ids=[
        "bad-particle",
        "zero-result",
        "zero-survey",
        "invalid-set",
        "no-model",
        "config",
        "out-of-step",
        "unknown",
        "critical",
    ],
)
def test_failures_are_found_in_the_log(log: str, expected: str) -> None:
    assert log_failure(log) == expected


def test_run_card_values_compare_as_mg5_writes_them() -> None:
    assert same_setting(6500, "6500.0")
    assert same_setting(60.0, " 60 ")
    assert same_setting(True, ".true.")
    assert same_setting(False, "False")
    assert same_setting("NN23LO1", "nn23lo1")
    assert not same_setting(13000, "6500.0")
    assert not same_setting(True, "False")


# ---------------------------------------------------------------- the request and the command files


def test_command_files_of_a_drell_yan_request() -> None:
    request = drell_yan(
        param_card={"MASS 6": 172.5}, run_card={"ebeam1": 6500, "use_syst": False, "pdlabel": "nn23lo1"}
    )
    assert generate_commands(request) == [
        "set auto_update 0 --no_save",
        "set automatic_html_opening False --no_save",
        "set auto_convert_model True --no_save",
        "import model sm",
        "generate p p > mu+ mu-",
        "output process -f",
    ]
    assert launch_commands(request) == [
        "set auto_update 0 --no_save",
        "set automatic_html_opening False --no_save",
        "set auto_convert_model True --no_save",
        "launch process",
        "shower=OFF",
        "detector=OFF",
        "analysis=OFF",
        "madspin=OFF",
        "reweight=OFF",
        "done",
        "set nevents 200",
        "set iseed 12345",
        "set ebeam1 6500",
        "set use_syst False",
        "set pdlabel nn23lo1",
        "set param_card mass 6 172.5",
        "done",
    ]


def test_definitions_decay_chains_nlo_and_cluster_options() -> None:
    request = Request(
        model="sm-no_b_mass",
        definitions=["l+ = e+ mu+", "l- =   e- mu-"],
        processes=["p p > t t~, (t > b w+, w+ > l+ vl), (t~ > b~ w-, w- > l- vl~) @1", "p p > e+ ve  [QCD]"],
        output_dir="gen/ttbar/process",
        commands_dir="gen/ttbar",
        seed=7,
        n_events=10,
        run_mode=1,
        cluster_type="slurm",
        cluster_queue="short-q.1",
    )
    lines = generate_commands(request)
    assert lines[3:7] == [
        "set run_mode 1 --no_save",
        "set cluster_type slurm --no_save",
        "set cluster_queue short-q.1 --no_save",
        "import model sm-no_b_mass",
    ]
    assert lines[7:] == [
        "define l+ = e+ mu+",
        "define l- = e- mu-",
        "generate p p > t t~, (t > b w+, w+ > l+ vl), (t~ > b~ w-, w- > l- vl~) @1",
        "add process p p > e+ ve [QCD]",
        "output process -f",
    ]
    assert launch_commands(request)[3:7] == [*lines[3:6], "launch process"]
    multicore = drell_yan(run_mode=2, nb_core=4)
    expected = ["set run_mode 2 --no_save", "set nb_core 4 --no_save"]
    assert generate_commands(multicore)[3:5] == launch_commands(multicore)[3:5] == expected


def test_python2_ufo_models_are_converted_unless_turned_off() -> None:
    # MG5 imports a Python-2 UFO (e.g. composite_LQ_UFO, arXiv:1803.05962) only after converting it; with the
    # option off in MG5's configuration it would ask first, and the closed stdin would end the import
    model = "composite_LQ_UFO"
    converted = drell_yan(model=model, processes=["p p > s1b s1b~, s1b > u mu-, s1b~ > u~ mu+"])
    assert generate_commands(converted)[2:4] == ["set auto_convert_model True --no_save", f"import model {model}"]
    assert launch_commands(converted)[2] == "set auto_convert_model True --no_save"
    kept = drell_yan(model=model, auto_convert_model=False)
    assert generate_commands(kept)[2] == launch_commands(kept)[2] == "set auto_convert_model False --no_save"


@pytest.mark.parametrize(
    ("processes", "switches"),
    [
        (["p p > mu+ mu-"], ["shower", "detector", "analysis", "madspin", "reweight"]),
        (["g g > h [noborn=QCD]"], ["shower", "detector", "analysis", "madspin", "reweight"]),  # MadEvent too
        (["p p > e+ ve [QCD]"], ["fixed_order", "shower", "madspin", "reweight", "madanalysis"]),
        (["p p > mu+ mu-", "p p > e+ e- [QCD]"], ["fixed_order", "shower", "madspin", "reweight", "madanalysis"]),
    ],
)
def test_launch_answers_the_switches_of_its_interface(processes: list[str], switches: list[str]) -> None:
    # a switch the question lacks would end it early: MG5 would run with its defaults (aMC@NLO: HERWIG6 shower)
    lines = launch_commands(drell_yan(processes=processes, run_card={}))
    assert lines[4 : lines.index("done")] == [f"{name}=OFF" for name in switches]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"processes": ["p p > mu+ mu-\nshell rm -rf ~"]}, r"spans several lines"),
        ({"processes": ["p p > mu+ mu-; shell ls"]}, r"contains ';'"),
        ({"processes": ["p p > mu+ mu- `ls`"]}, r"process 'p p > mu\+ mu- `ls`' is not allowed \(found '`'\)"),
        ({"processes": ["p p > mu+ mu- # comment"]}, r"found '#'"),
        ({"processes": []}, r"at least 1 item"),
        ({"processes": ["  "]}, r"process is empty"),
        ({"definitions": ["l+ = e+ mu+\ngenerate e+ e- > z"]}, r"spans several lines"),
        ({"definitions": ["define l+ e+ mu+"]}, r"definition 'define l\+ e\+ mu\+' is not allowed: '<label> = <p"),
        ({"definitions": ["l+ = e+ | mu+"]}, r"is not allowed \(found '\|'\)"),
        ({"model": "sm\nshell ls"}, r"spans several lines"),
        ({"model": "/abs/models/sm"}, r"UFO model name"),
        ({"run_card": {"mmll\nshell": 60}}, r"run_card key .* spans several lines"),
        ({"run_card": {"mm ll": 60}}, r"run_card key 'mm ll' is not allowed"),
        ({"run_card": {"pdlabel": "nn23lo1; shell ls"}}, r"contains ';'"),
        ({"run_card": {"pdlabel": "$(ls)"}}, r"run_card value of pdlabel"),
        ({"run_card": {"mmll": math.inf}}, r"not a finite number"),
        ({"run_card": {"nevents": 100}}, r"'nevents' is set by the request field 'n_events'"),
        ({"run_card": {"ISEED": 3}}, r"'iseed' is set by the request field 'seed'"),
        ({"param_card": {"mass 6\nshell": 1.0}}, r"spans several lines"),
        ({"param_card": {"mt": 172.5}}, r"'BLOCK ID\.\.\.'"),
        ({"param_card": {"mass 6": math.nan}}, r"not a finite number"),
        ({"cluster_queue": "q; rm"}, r"contains ';'"),
        ({"cluster_type": "slurm"}, r"run_mode 1 \(cluster\) only"),
        ({"run_mode": 1, "cluster_type": "torque"}, r"cluster_type"),
        ({"output_dir": "."}, r"names the run directory itself"),
        ({"output_dir": "../elsewhere"}, r"must be relative to the run directory"),
        ({"output_dir": "mg5 process"}, r"path 'mg5 process' is not allowed"),
        ({"commands_dir": "mg5/process/cmd"}, r"commands_dir mg5/process/cmd is inside output_dir mg5/process"),
        ({"lhe_path": "mg5/process/events.lhe"}, r"lhe_path .* is inside output_dir"),
        ({"seed": 0}, r"greater than or equal to 1"),
        ({"seed": 30081 * 30081 + 1}, r"less than or equal to 904866561"),
        ({"shower": "pythia8"}, r"shower"),
        ({"mg5_path": "mg5"}, r"Extra inputs are not permitted"),
    ],
)
def test_requests_that_could_inject_or_mislead_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        drell_yan(**changes)


# ---------------------------------------------------------------- runs of a stand-in MG5


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
