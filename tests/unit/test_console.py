"""The tutor's streamed answers: rendered as markdown, and never interleaved with tool-call notes."""

from __future__ import annotations

import io
import re

from rich.console import Console

from madagents.console import AnswerFirst, AnswerStream, RichReporter
from madagents.heartbeat import Heartbeat


def streamed(force_terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=60, force_terminal=force_terminal, color_system=None)
    answer = AnswerStream(console)
    reporter = AnswerFirst(RichReporter(console), answer)
    for token in ["Drell–Yan is **q q̄ → Z/γ\\* → μ⁺μ⁻**", ".\n\n- the shower\n", "- the analysis\n"]:
        answer.token(token)
    reporter.note("tutor → propose_workflow: valid")
    answer.token("Running `drell_yan` now.")
    answer.end()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", out.getvalue())  # cursor control of the live display


def test_an_answer_is_rendered_as_markdown() -> None:
    lines = [line.rstrip() for line in streamed(force_terminal=False).splitlines()]
    assert lines[0] == "Drell–Yan is q q̄ → Z/γ* → μ⁺μ⁻."  # emphasis markers gone, the escaped star kept
    assert " • the shower" in lines
    assert "Running drell_yan now." in lines


def test_a_note_finishes_the_answer_first() -> None:
    for force_terminal in (False, True):
        lines = [line.rstrip() for line in streamed(force_terminal).splitlines()]
        note = next(i for i, line in enumerate(lines) if "propose_workflow" in line)
        assert lines[note].strip() == "tutor → propose_workflow: valid"  # on a line of its own
        assert any("the analysis" in line for line in lines[:note])
        assert lines[note + 1].startswith("Running drell_yan now.")  # a terminal redraws it in place


def test_without_a_terminal_progress_is_a_heartbeat_line_at_intervals() -> None:
    out = io.StringIO()
    now = [0.0]
    reporter = RichReporter(Console(file=out, width=120), Heartbeat(interval_s=30, clock=lambda: now[0]))
    for second, done in [(1, 100), (10, 1000), (31, 3100), (40, 4000), (62, 6200), (100, 10000)]:
        now[0] = second
        reporter.progress("generate", done, 10000)
    assert out.getvalue().splitlines() == [
        "  generate: 3100/10000 events, 100.0/s, about 69 s left",
        "  generate: 6200/10000 events, 100.0/s, about 38 s left",
        "  generate: 10000/10000 events, 100.0/s, done in 99 s",
    ]
