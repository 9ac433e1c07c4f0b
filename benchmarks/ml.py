"""What the ML tools buy: surrogate evaluation vs the amplitude code, flow sampling vs Pythia8, per core.

Usage: python benchmarks/ml.py [--points 2000] [--events 2000] [--process "u u~ > e+ e- g"]. Trains a quick
surrogate (its accuracy is not the point here; tests/integration/test_ml_tools.py measures that), then times |M|²
for the same fresh phase-space points with ufoamp and with the surrogate; generates Drell–Yan events with Pythia8
(pythia8_generate.run, the shipped workflow's settings: shower, MPI, hadronisation, HepMC3 + ROOT output),
trains the flow generator on them and times sampling the same number of events (ODE + ROOT output). All on one
torch thread and one ufoamp process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from madagents.agents.planner import plan_workflow
from madagents.workflow import load_workflow
from madagents_tools.generation import pythia8_generate
from madagents_tools.ml import amplitude_surrogate, cfm_generator
from madagents_tools.ml.ml_common import TrainingOptions, phase_space

WORKFLOW = Path(__file__).resolve().parent.parent / "workflows" / "drell_yan.yaml"
SEED = 12345


def amplitudes(process: str, points: int) -> tuple[float, float]:
    """Points per second of ufoamp and of a trained surrogate on the same points."""
    request = amplitude_surrogate.Request(
        process=process, n_points=5000, training=TrainingOptions(epochs=5, width=128, depth=4), jobs=1, seed=SEED
    )
    result = amplitude_surrogate.run(request)
    if not result.ok or result.model_path is None:
        msg = f"surrogate training failed: {result.error}"
        raise SystemExit(msg)
    surrogate = amplitude_surrogate.Surrogate.load(Path(result.model_path))
    masses = amplitude_surrogate.leg_masses(process)
    momenta, _ = phase_space(points, (request.sqrt_s_gev,) * 2, masses, request.y_min, np.random.default_rng(SEED))
    start = time.perf_counter()
    amplitude_surrogate.squared_amplitude(process, momenta)
    ufoamp_rate = points / (time.perf_counter() - start)
    start = time.perf_counter()
    surrogate.predict(momenta)
    return ufoamp_rate, points / (time.perf_counter() - start)


def events(n_events: int) -> tuple[float, float]:
    """Seconds for Pythia8 to generate ``n_events`` Drell–Yan events, and for the flow to sample as many."""
    plan = plan_workflow(load_workflow(WORKFLOW, events=n_events, seed=SEED))
    request = plan.step_request(pythia8_generate.Request)
    start = time.perf_counter()
    generation = pythia8_generate.run(request)
    pythia_seconds = time.perf_counter() - start
    if not generation.ok:
        msg = f"Pythia8 failed: {generation.error}"
        raise SystemExit(msg)
    Path("events/result.json").write_text(generation.model_dump_json())
    flow = cfm_generator.run(
        cfm_generator.Request(
            events_path=request.root_path,
            generation_result_path="events/result.json",
            n_events=n_events,
            training=TrainingOptions(epochs=20, width=128, depth=3),
            seed=SEED,
        )
    )
    if flow.metrics is None:
        msg = f"flow generator failed: {flow.error}"
        raise SystemExit(msg)
    return pythia_seconds, flow.metrics.sampling_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--process", default="u u~ > e+ e- g")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        ufoamp_rate, surrogate_rate = amplitudes(args.process, args.points)
        pythia_s, flow_s = events(args.events)
    print(f"|M|² of {args.process}, {args.points} points, one core:")
    print(f"  ufoamp:     {ufoamp_rate:12.0f} points/s")
    print(f"  surrogate:  {surrogate_rate:12.0f} points/s   ratio {surrogate_rate / ufoamp_rate:.0f}")
    print(f"Drell–Yan, {args.events} events:")
    print(f"  Pythia8 (shower + MPI + hadronisation, HepMC3 + ROOT): {pythia_s:8.2f} s")
    print(f"  flow sampling (ODE + ROOT):                            {flow_s:8.2f} s   ratio {pythia_s / flow_s:.0f}")


if __name__ == "__main__":
    main()
