from __future__ import annotations

import jinja2
import pytest

from madagents.processes import catalogue_summaries
from madagents.prompts import load_prompt, prompt_names
from madagents.state import GateResult

STEP = {
    "step_id": "01-generate",
    "tool": "pythia8_generate",
    "description": "Pythia8 events",
    "planned_request": "{}",
    "briefing": "",
    "feedback": ["peak off by 2 bins"],
    "failure": "",
}
FIXTURE_VARIABLES: dict[str, dict[str, object]] = {
    "planner": {
        "task": "Drell–Yan at 13 TeV",
        "seed": 1,
        "max_events": 1000,
        "max_attempts": 3,
        "catalogue": catalogue_summaries(),
        "feedback": [],
        "previous_workflow": "",
    },
    "installer": {
        "backend": "local",
        "plan_summary": "DY",
        "tools": ["pythia8_generate"],
        "packages": ["pythia8mc"],
        "programs": [],
        "inspected": "{}",
    },
    "generator": STEP,
    "analyst": STEP,
    "reviewer": {
        "task": "Drell–Yan at 13 TeV",
        "plan_summary": "DY",
        "gates": [GateResult(gate="peak", passed=True, message="at 91 GeV")],
        "histograms": [],
        "assumptions": [],
        "round": 1,
        "max_rounds": 2,
    },
    "tutor": {"ask_above_seconds": 60, "level": "master's student"},
}


def test_there_is_a_prompt_per_role() -> None:
    assert set(prompt_names()) == set(FIXTURE_VARIABLES)


@pytest.mark.parametrize("name", sorted(FIXTURE_VARIABLES))
def test_every_prompt_renders(name: str) -> None:
    text = load_prompt(name, **FIXTURE_VARIABLES[name])
    assert f"**{name}**" in text
    assert "{{" not in text


def test_a_missing_variable_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        load_prompt("installer", backend="local")


def test_unknown_prompt() -> None:
    with pytest.raises(ValueError, match="no prompt named 'oracle'"):
        load_prompt("oracle")
