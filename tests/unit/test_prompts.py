from __future__ import annotations

import jinja2
import pytest

from madagents.prompts import load_prompt, prompt_names

FIXTURE_VARIABLES = {
    "planner": {"tools": ["pythia8_generate", "analyze"], "run_seed": 1, "request": "Drell–Yan at 13 TeV"},
    "installer": {"backend": "local", "packages": ["pythia8mc"]},
    "generator": {"step": "{}"},
    "analyst": {"step": "{}"},
    "reviewer": {"gates": ["event count", "peak"]},
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
