from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import madagents
from tests.conftest import DRELL_YAN


def test_public_api_is_pinned() -> None:
    assert dir(madagents) == [
        "Plan",
        "RunFailedError",
        "RunResult",
        "RunState",
        "Settings",
        "UserInputError",
        "Workflow",
        "build_graph",
        "load_workflow",
        "resume_run",
        "run",
        "start_run",
    ]


def test_every_public_name_resolves() -> None:
    for name in madagents.__all__:
        assert getattr(madagents, name).__name__ == name


@pytest.mark.parametrize(
    ("workflow", "options", "message"),
    [
        (DRELL_YAN, {"events": 0}, r"events: Input should be greater than 0"),
        (DRELL_YAN, {"sandbox": "podman"}, r"sandbox='podman' is not a backend; give one of auto, local"),
        (Path("no/such.yaml"), {}, r"workflow file no/such.yaml not found"),
        (42, {}, r"workflow must be a YAML path or a madagents.Workflow, not int"),
    ],
)
def test_run_refuses_bad_input_with_an_exception_before_anything_runs(
    tmp_path: Path, workflow: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(madagents.UserInputError, match=message):
        madagents.run(workflow, out=tmp_path / "run", **options)
    assert not (tmp_path / "run").exists()


def test_a_loaded_workflow_is_revalidated_with_its_overrides(tmp_path: Path) -> None:
    workflow = madagents.load_workflow(DRELL_YAN)
    with pytest.raises(madagents.UserInputError, match=r"Invalid workflow drell_yan: seed"):
        madagents.run(workflow, out=tmp_path / "run", seed=-1)


def test_a_directory_that_is_no_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(madagents.UserInputError, match=r"is not a madagents run directory"):
        madagents.RunResult.open(tmp_path)
