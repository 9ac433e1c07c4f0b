"""Size budgets of STYLE.md, checked so they cannot drift: modules ≤ 400 lines, functions ≤ 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted([*REPO.glob("madagents/**/*.py"), *REPO.glob("tools/*.py")])


def test_modules_are_small() -> None:
    too_long = [
        f"{p.relative_to(REPO)}: {n}" for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert too_long == []


def test_functions_are_short() -> None:
    too_long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []


def test_no_prompt_text_in_python() -> None:
    for path in _sources():
        assert "You are the" not in path.read_text(), path
