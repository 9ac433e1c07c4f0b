"""``madagents chat`` in a pseudo-terminal, as a student types into it; the tutor's turns are replayed from the
scripted cassette (``--replay``), the pilot run is real Pythia8.

What only a terminal shows: the confirmation question with its ``[y/N]``, the line editor (prompt_toolkit) and its
history across --resume.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pytest

from tests.conftest import REPO
from tests.replay.scripted import CASSETTES

pytestmark = pytest.mark.slow
UP = "\x1b[A"
TIMEOUT_S = 120
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def spawn(tmp_path: Path, *args: str) -> pexpect.spawn:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MADAGENTS_RUNS_DIR": str(tmp_path / "runs"),
        "MADAGENTS_SANDBOX": "local",
        "MADAGENTS_PILOT_EVENTS": "50",  # the cassette's 1000 events are still more than 4 pilots: it asks
        "TERM": "xterm",
        "PROMPT_TOOLKIT_NO_CPR": "1",  # pexpect answers no cursor-position request; a terminal would
    }
    cassette = str(CASSETTES / "student_chat_drell_yan.json")
    command = [sys.executable, "-m", "madagents", "chat", "--replay", cassette, *args]
    child = pexpect.spawn(command[0], command[1:], env=env, cwd=str(tmp_path), encoding="utf-8", timeout=TIMEOUT_S)
    child.setwinsize(40, 200)
    return child


def test_the_confirmation_is_visible_and_resume_keeps_the_history(tmp_path: Path) -> None:
    child = spawn(tmp_path)
    child.expect("madagents tutor")
    child.expect(r"Session: ([^\s\x1b]+)")
    session = Path(child.match.group(1))
    child.expect("you> ")
    child.sendline("Can you simulate Drell-Yan at 13 TeV and plot the dimuon mass?")
    child.expect(r"Generate them\?(?:\x1b\[[0-9;]*m)* \[y/N\]")  # on screen: "Generate them? [y/N]"
    before = ANSI.sub("", child.before)
    assert before.count("A pilot run of 50 events") == 1  # said once, in the question
    child.expect("you> ")
    child.sendline("n")  # declined: the cassette recorded a yes, so the tutor has no recorded answer now
    child.expect("the cassette holds no answer to this conversation")
    assert not list((tmp_path / session).glob("runs/*/verify"))  # a declined generation is not reproduced either
    child.expect("you> ")
    child.sendline("/quit")
    child.expect(f"Session kept in {re.escape(str(session))}")
    child.expect(pexpect.EOF)

    resumed = spawn(tmp_path, "--resume", session.name)
    resumed.expect(r"resumed: \d+ earlier messages")
    resumed.expect("you> ")
    resumed.send(UP)  # the line editor brings back the last line typed before: /quit
    resumed.send("\r")
    resumed.expect("Session kept in")
    resumed.expect(pexpect.EOF)
    assert (tmp_path / session / ".input_history").is_file()
