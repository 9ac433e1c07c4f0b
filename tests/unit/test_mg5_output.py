"""Parsers of MG5's output, on real MG5 3.5.7 output (tests/fixtures/mg5): LHE init block and events, the banner
and its cards, the log's failures, and run-card values compared as MG5 writes them."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

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
from tests.mg5_fixtures import BANNER, LHE_200, MUMU, TTBAR


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
