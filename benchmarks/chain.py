"""The MG5 → Pythia8 → Delphes chain in the hep-full image: what the process cache saves, and Delphes' rate.

Usage: python benchmarks/chain.py [--events 1000] [--vendor ../shared/vendor [--cold]]. Needs a Docker daemon and the
hep-full image. Prints, each measured in this one run:
- the MG5 step of drell_yan_mg5 run twice with the same process (a fresh cache: the first run compiles, the second
  reuses the process directory) and their ratio;
- Delphes events per second in drell_yan_delphes (the detector step's time from the run's trace);
- with --vendor, the time of a warm `madagents images build hep-full` (nothing to rebuild);
- with --cold too, first a cold one (`--no-cache`: MG5 set up and Delphes compiled again, on the cached hep stack).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from madagents.rundir import RunDir

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
SEED = 12345


def run(workflow: str, events: int, out: Path, env: dict[str, str]) -> float:
    """Wall time of one ``madagents run`` under docker."""
    start = time.monotonic()
    command = [sys.executable, "-m", "madagents", "run", str(WORKFLOWS / workflow), "--events", str(events)]
    command += ["--seed", str(SEED), "--out", str(out), "--sandbox", "docker"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.monotonic() - start


def step_seconds(run_dir: Path, tool: str) -> float:
    """Seconds of the run's first call of ``tool`` (from trace.jsonl)."""
    calls = [e for e in RunDir(run_dir).trace_events() if e.event == "tool_call" and e.tool == tool]
    return calls[0].seconds or 0.0


def reused(run_dir: Path) -> str:
    """Whether the run's MG5 step restored its process directory from the cache (its result says)."""
    (result,) = run_dir.glob("steps/*-mg5/result.json")
    return "reused" if json.loads(result.read_text()).get("process_reused") else "compiled"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--vendor", type=Path, help="Also time a warm hep-full build from these tarballs.")
    parser.add_argument("--cold", action="store_true", help="With --vendor: a cold build (--no-cache) first.")
    args = parser.parse_args()
    if args.cold and args.vendor is None:
        parser.error("--cold builds from the tarballs of --vendor DIR; give it")
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "MADAGENTS_MG5_CACHE_DIR": str(Path(scratch) / "mg5-cache")}
        first_s = run("drell_yan_mg5.yaml", args.events, Path(scratch) / "mg5-first", env)
        second_s = run("drell_yan_mg5.yaml", args.events, Path(scratch) / "mg5-second", env)
        mg5 = [step_seconds(Path(scratch) / name, "mg5_generate") for name in ("mg5-first", "mg5-second")]
        how = [reused(Path(scratch) / name) for name in ("mg5-first", "mg5-second")]
        delphes_s = run("drell_yan_delphes.yaml", args.events, Path(scratch) / "delphes", env)
        detector = step_seconds(Path(scratch) / "delphes", "detector")
    print(f"events: {args.events}, sandbox: docker (hep-full)")
    print(f"MG5 step, first run ({how[0]}):  {mg5[0]:8.1f} s   (whole run {first_s:.1f} s)")
    print(f"MG5 step, second run ({how[1]}):   {mg5[1]:8.1f} s   (whole run {second_s:.1f} s)")
    print(f"  ratio second / first: {mg5[1] / mg5[0]:.2f}")
    print(f"Delphes step: {detector:.1f} s for {args.events} events = {args.events / detector:.0f} events/s")
    print(f"  (whole drell_yan_delphes run {delphes_s:.1f} s)")
    if args.cold:
        print(f"hep-full build, cold:            {build_seconds(args.vendor, '--no-cache'):8.1f} s")
    if args.vendor is not None:
        print(f"hep-full build, warm:            {build_seconds(args.vendor):8.1f} s")


def build_seconds(vendor: Path, *options: str) -> float:
    start = time.monotonic()
    build = [sys.executable, "-m", "madagents", "images", "build", "hep-full", "--source", str(vendor), *options]
    subprocess.run(build, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


if __name__ == "__main__":
    main()
