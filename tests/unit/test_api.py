from __future__ import annotations

import madagents


def test_public_api_is_pinned() -> None:
    assert dir(madagents) == [
        "Plan",
        "RunFailedError",
        "RunState",
        "Settings",
        "UserInputError",
        "Workflow",
        "build_graph",
        "load_workflow",
        "resume_run",
        "start_run",
    ]


def test_every_public_name_resolves() -> None:
    for name in madagents.__all__:
        assert getattr(madagents, name).__name__ == name
