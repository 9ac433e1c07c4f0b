"""When the reviewer's reproduction check, started beside the generation, begins its work."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from madagents import early_reproduction
from madagents.early_reproduction import RELEASE_AT, EarlyReproduction
from madagents.sandbox.base import ExecResult

COMMAND, DIGEST = ["bash", "reproduce.sh"], "digest"
DONE = ExecResult(exit_code=0, timed_out=False, seconds=0.0, output_tail="")


class Check:
    """A reproduce.sh that records when it began."""

    def __init__(self) -> None:
        self.began = threading.Event()

    def __call__(self) -> ExecResult:
        self.began.set()
        return DONE


@pytest.fixture
def check() -> Check:
    return Check()


@pytest.fixture
def early() -> Iterator[EarlyReproduction]:
    early = EarlyReproduction()
    yield early
    early.close()


def test_a_prefix_check_begins_once_the_generator_has_done_a_tenth(check: Check, early: EarlyReproduction) -> None:
    early.start(COMMAND, DIGEST, check, unchecked=0.9)
    early.progress(100, 10_000)  # Pythia8 initialised, the writer still importing: not yet
    assert not check.began.wait(0.3)
    early.progress(int(RELEASE_AT * 10_000), 10_000)
    assert check.began.wait(5)
    assert early.take(COMMAND, DIGEST) == DONE


def test_beside_a_generation_little_longer_than_the_check_it_begins_sooner(
    check: Check, early: EarlyReproduction
) -> None:
    early.start(COMMAND, DIGEST, check, unchecked=0.04)  # 1 000 of 1 040 events
    early.progress(50, 1040)
    assert check.began.wait(5)


def test_a_full_reproduction_begins_at_once(check: Check, early: EarlyReproduction) -> None:
    early.start(COMMAND, DIGEST, check, unchecked=0.0)
    assert check.began.wait(5)


def test_beside_a_tool_that_reports_no_progress_it_begins_after_a_while(
    check: Check, early: EarlyReproduction, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(early_reproduction, "START_AFTER_S", 0.5)
    start = time.monotonic()
    early.start(COMMAND, DIGEST, check, unchecked=0.9)
    assert check.began.wait(5)
    assert time.monotonic() - start >= 0.5


def test_the_reviewer_asking_for_it_begins_it(check: Check, early: EarlyReproduction) -> None:
    early.start(COMMAND, DIGEST, check, unchecked=0.9)
    early.progress(100, 10_000)
    assert early.take(COMMAND, DIGEST) == DONE
    assert check.began.is_set()


def test_a_run_that_ends_before_the_check_began_does_not_run_it(check: Check) -> None:
    early = EarlyReproduction()
    early.start(COMMAND, DIGEST, check, unchecked=0.9)
    early.progress(100, 10_000)
    early.close()  # a generation that failed: nobody will take the check
    assert not check.began.is_set()
