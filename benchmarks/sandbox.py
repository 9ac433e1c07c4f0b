"""Per-call overhead of a trivial tool: local subprocess vs cold container vs warm container.

Usage: python benchmarks/sandbox.py [--calls 10]. Needs a Docker daemon and the hep image (`make sandbox`).
Goals: warm ≤ local + 0.3 s per call, cold ≤ 2 s per call. The docker backend runs each call in a cold container;
the warm number shows what reusing one container per run (`docker exec`) would save.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from madagents.sandbox import DockerLimits, DockerSandbox, LocalSandbox, docker_client
from madagents.sandbox.docker import container_policy
from madagents.settings import Settings
from madagents_tools import environment

TRIVIAL = ["-m", "madagents_tools.environment", "request.json", "result.json"]


def _median_seconds(call: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.monotonic()
        call()
        times.append(time.monotonic() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10)
    calls = parser.parse_args().calls
    settings = Settings()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "request.json").write_text(environment.Request(packages=["pydantic"]).model_dump_json())
        local = LocalSandbox(work)
        cold = DockerSandbox(work, settings.image, DockerLimits())
        local_s = _median_seconds(lambda: local.run([local.python, *TRIVIAL], timeout_s=60, log_path="l.txt"), calls)
        cold_s = _median_seconds(lambda: cold.run(["python", *TRIVIAL], timeout_s=60, log_path="c.txt"), calls)
        policy = container_policy(cold.limits, ".", models=False)  # the same container policy, kept running
        container = docker_client().containers.run(settings.image, ["sleep", "infinity"], detach=True, **policy)
        try:
            warm_s = _median_seconds(lambda: container.exec_run(["python", *TRIVIAL], workdir="/work"), calls)
        finally:
            container.remove(force=True)
    print(f"trivial tool call, median of {calls}:")
    print(f"  local subprocess   {local_s:6.3f} s")
    print(f"  warm container     {warm_s:6.3f} s   +{warm_s - local_s:.3f} s vs local (goal ≤ +0.3 s)")
    print(f"  cold container     {cold_s:6.3f} s   +{cold_s - local_s:.3f} s vs local (goal ≤ 2 s per call)")


if __name__ == "__main__":
    main()
