"""A user's Delphes card that sources other cards: they are inlined, or the line that cannot be followed is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.agents.planner import plan_workflow
from madagents.cli import app
from madagents.workflow import load_workflow
from madagents_tools.detector import detector
from madagents_tools.detector.delphes_sources import CardSourceError, inline_sources
from tests.conftest import WorkflowWriter

EFFICIENCY = "module Efficiency MuonEfficiency {\n  set EfficiencyFormula {0.95}\n}"


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    """my_card.tcl sources common/muons.tcl, which sources common/tracks.tcl (paths from the card's directory)."""
    (tmp_path / "common").mkdir()
    (tmp_path / "common/muons.tcl").write_text(f"{EFFICIENCY}\n  source {{common/tracks.tcl}}\n")
    (tmp_path / "common/tracks.tcl").write_text("set TrackPTMin 0.5\n")
    (tmp_path / "my_card.tcl").write_text('set ExecutionPath {MuonEfficiency}\nsource "common/muons.tcl"\n')
    return tmp_path / "my_card.tcl"


def test_sourced_cards_are_inlined_in_place_recursively(cards: Path) -> None:
    text = inline_sources(cards)
    assert text.splitlines() == [
        "set ExecutionPath {MuonEfficiency}",
        '# source "common/muons.tcl"    (inlined by madagents)',
        *EFFICIENCY.splitlines(),
        "# source {common/tracks.tcl}    (inlined by madagents)",
        "set TrackPTMin 0.5",
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "source ../outside.tcl",
            r"line 2 of Delphes card .*my_card.tcl \('source ../outside.tcl'\): ../outside.tcl "
            r"is outside the card's directory .*; copy the file beside the card",
        ),
        ("source /etc/hostname", r"/etc/hostname is outside the card's directory"),
        ("source common/nowhere.tcl", r"common/nowhere.tcl does not exist in the card's directory"),
        ("source $env(HOME)/x.tcl", r"follows `source FILE` with a plain file name only"),
        ("source [glob *.tcl]", r"follows `source FILE` with a plain file name only"),
        ("source my_card.tcl", r"sources a card that is already being read \(a cycle\)"),
    ],
)
def test_a_source_line_that_cannot_be_followed_is_named(cards: Path, line: str, message: str) -> None:
    (cards.parent / "outside.tcl").write_text("")
    cards.write_text(f"set ExecutionPath {{}}\n{line}\n")
    with pytest.raises(CardSourceError, match=message):
        inline_sources(cards)


def test_the_plan_carries_one_self_contained_card(write_workflow: WorkflowWriter, cards: Path) -> None:
    plan = plan_workflow(load_workflow(write_workflow(detector={"backend": "delphes", "card": str(cards)})))
    (request,) = [step.request for step in plan.steps if isinstance(step.request, detector.Request)]
    assert request.delphes_card == "my_card.tcl"
    assert request.delphes_card_text == inline_sources(cards)
    assert "set TrackPTMin 0.5" in request.delphes_card_text


def test_madagents_run_refuses_the_card_before_anything_runs(
    write_workflow: WorkflowWriter, cards: Path, tmp_path: Path
) -> None:
    (cards.parent / "common/tracks.tcl").unlink()
    workflow = write_workflow(detector={"backend": "delphes", "card": str(cards)})
    result = CliRunner().invoke(app, ["run", str(workflow), "--sandbox", "local", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"line 4 of Delphes card {cards.parent}/common/muons.tcl" in message
    assert "common/tracks.tcl does not exist in the card's directory" in message
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
