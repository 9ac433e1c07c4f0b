"""Wall time and peak memory of a command, and the table the benchmarks print.

Peak RSS is that of the largest single process of the command's tree: ``wait4`` returns the child's resource use
merged with that of every descendant it waited for (the tools of a run, its HepMC3 writer), and ``ru_maxrss`` is the
maximum over them. Processes of a Docker container are not descendants: measure with the local sandbox.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

__all__ = [
    "Measured",
    "Row",
    "fastest",
    "in_rounds",
    "load_line",
    "measured",
    "print_table",
    "round_count",
    "round_lines",
]


class Timing(Protocol):
    @property
    def seconds(self) -> float: ...


T = TypeVar("T")
TimingT = TypeVar("TimingT", bound=Timing)


@dataclass(frozen=True, slots=True)
class Measured:
    seconds: float
    peak_rss_mb: float


@dataclass(frozen=True, slots=True)
class Row:
    what: str
    measured: Measured | None
    ratio: float | None = None
    target: str = ""

    def verdict(self) -> str:
        if self.ratio is None or not self.target:
            return ""
        bound = float(self.target.split()[-1].rstrip("×"))
        met = self.ratio <= bound if self.target.startswith("≤") else self.ratio >= bound
        return "met" if met else "NOT met"


def measured(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run ``command`` to the end (output discarded unless it fails); its wall time and peak RSS."""
    with tempfile.TemporaryFile("w+") as output:
        start = time.monotonic()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # waited for here, not by Popen
        if process.returncode != 0:
            output.seek(0)
            tail = "".join(output.readlines()[-20:])
            msg = f"{' '.join(command)} failed (exit code {process.returncode}):\n{tail}"
            raise RuntimeError(msg)
    return Measured(seconds, usage.ru_maxrss / 1024)  # Linux reports kB


def in_rounds(repeat: int, commands: Callable[[int], dict[str, Callable[[], T]]]) -> list[dict[str, T]]:
    """``repeat`` rounds of the commands ``commands(round)`` names, each round in another order, so that a drift of
    the machine's speed over minutes favours none of them; each round's results by name, in the order run."""
    rounds = []
    for index in range(repeat):
        named = commands(index)
        kinds = list(named)
        shift = index % len(kinds)
        rounds.append({kind: named[kind]() for kind in kinds[shift:] + kinds[:shift]})
    return rounds


def round_count(text: str) -> int:
    """The argparse type of ``--repeat``."""
    count = int(text)
    if count < 1:
        msg = "must be at least 1: the fastest of no rounds is no figure"
        raise argparse.ArgumentTypeError(msg)
    return count


def fastest(rounds: list[dict[str, TimingT]]) -> dict[str, TimingT]:
    """The fastest result of each kind over the rounds: a load spike from other jobs only ever adds time."""
    return {kind: min((times[kind] for times in rounds), key=lambda timed: timed.seconds) for kind in rounds[0]}


def round_lines(
    rounds: list[dict[str, TimingT]], ratios: dict[str, Callable[[dict[str, TimingT]], float]], target: str
) -> list[str]:
    """Each round's times (in the order run) and ``ratios``, then the median of the ratio named ``target``: what
    the fastest of each kind does not show."""
    lines = ["  each round (in the order run):"]
    for index, times in enumerate(rounds, start=1):
        parts = ", ".join(f"{kind} {timed.seconds:.1f} s" for kind, timed in times.items())
        figures = ", ".join(f"{name} {ratio(times):.2f}×" for name, ratio in ratios.items())
        lines.append(f"    {index}: {parts}   {figures}")
    median = statistics.median(ratios[target](times) for times in rounds)
    lines.append(f"    median of the rounds' {target}: {median:.2f}×")
    return lines


def load_line() -> str:
    load = os.getloadavg()
    return f"CPUs: {os.cpu_count()}, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)"


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"  {'what':<44} {'time':>9} {'peak RSS':>10} {'ratio':>7}  target")
    for row in rows:
        time_s = f"{row.measured.seconds:8.1f}s" if row.measured else ""
        known = row.measured is not None and row.measured.peak_rss_mb == row.measured.peak_rss_mb  # NaN: unknown
        rss = f"{row.measured.peak_rss_mb:7.0f} MB" if row.measured is not None and known else ""
        ratio = f"{row.ratio:6.2f}×" if row.ratio is not None else ""
        target = f"{row.target} ({row.verdict()})" if row.target else ""
        print(f"  {row.what:<44} {time_s:>9} {rss:>10} {ratio:>7}  {target}")
