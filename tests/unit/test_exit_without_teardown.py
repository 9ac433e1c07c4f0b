"""How tools, their writer processes and the command line end: as ``SystemExit`` would, minus Python's teardown."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
import atexit, sys, threading, time
from madagents_tools.contract import exit_without_teardown

class Noisy:
    def __del__(self):
        print("teardown", flush=True)

noisy = Noisy()  # freed by the teardown, never by os._exit
atexit.register(lambda: print("exit handler"))
if sys.argv[2] == "thread":
    threading.Thread(target=lambda: (time.sleep(0.5), print("thread finished"))).start()
print("buffered output", end=" ")  # not flushed yet: stdout is a pipe
exit_without_teardown({"int": 3, "str": "what went wrong", "none": None}[sys.argv[1]])
"""


@pytest.mark.parametrize(
    ("code", "returncode", "stderr"), [("int", 3, ""), ("str", 1, "what went wrong\n"), ("none", 0, "")]
)
def test_the_process_ends_with_its_code_output_and_exit_handlers_but_no_teardown(
    code: str, returncode: int, stderr: str
) -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM, code, "-"], capture_output=True, text=True, check=False)
    assert done.returncode == returncode
    assert done.stdout == "buffered output exit handler\n"
    assert done.stderr == stderr


def test_a_thread_of_its_own_finishes_before_the_process_ends_as_usual() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM, "int", "thread"], capture_output=True, text=True, check=False)
    assert done.returncode == 3
    assert done.stdout.startswith("buffered output thread finished\nexit handler\n")  # then, as usual, the teardown
