"""Cost of the generation step before it runs: a short pilot run measures events per second."""

from __future__ import annotations

from dataclasses import dataclass

from madagents.context import RunContext
from madagents.errors import UserInputError
from madagents.state import PlanStep, RunState
from madagents.toolcall import call_tool
from madagents.workflow import Workflow
from madagents_tools.generation import pythia8_generate

__all__ = ["FASTEST_EVENTS_PER_S", "Estimate", "check_event_budget", "estimate_generation"]

PILOT_FACTOR = 4
"""Samples up to this many pilot sizes are cheap enough to run without an estimate."""
DAY = 86400.0
FASTEST_EVENTS_PER_S = 5000.0
"""More events per second than any workflow generates on one core: Drell–Yan without shower, MPI and hadronisation
(the cheapest generation there is) measured 1900 events/s with its ROOT and HepMC3 files on a 2-core machine."""


@dataclass(frozen=True, slots=True)
class Estimate:
    text: str
    """What the user and the model are told."""
    error: str | None = None
    """Why the step must not run (declined, over budget, pilot failed)."""


def estimate_generation(ctx: RunContext, state: RunState, step: PlanStep) -> Estimate | None:
    """Pilot-run a Pythia8 step, then ask (chat) or check the remaining wall-time budget (autonomous)."""
    request = step.request
    pilot_events = ctx.settings.pilot_events
    if not isinstance(request, pythia8_generate.Request) or request.n_events <= PILOT_FACTOR * pilot_events:
        return None
    pilot_dir = f"steps/{step.id}-pilot"
    pilot = request.model_copy(
        update={
            "n_events": pilot_events,
            "hepmc_path": f"{pilot_dir}/events.hepmc3" if request.hepmc_path else None,  # the step's own cost
            "root_path": f"{pilot_dir}/events.root",
        }
    )
    result, call = call_tool(ctx, pilot_dir, pilot, pythia8_generate.Result)
    if not result.ok:
        return Estimate(text="", error=f"the pilot run failed: {result.error} (log: {call.log_path})")
    # the pilot's time includes Pythia8's initialisation, so the estimate errs on the long side
    rate = pilot_events / max(call.seconds, 1e-3)
    seconds = request.n_events / rate
    text = (
        f"A pilot run of {pilot_events} events took {call.seconds:.1f} s ({rate:.0f} events/s), so "
        f"{request.n_events} events need about {_duration(seconds)} of CPU in the sandbox."
    )
    answer = ctx.ask(f"{text} Generate them?")  # the question shows the estimate; a note as well would say it twice
    if answer is not None:
        if not answer:
            return Estimate(text=text, error="the user declined the generation step after the estimate")
        return Estimate(text=text)
    ctx.reporter.note(text)
    remaining = ctx.settings.budget.wall_s - state.spend.seconds
    if seconds > remaining:
        error = (
            f"{text} That exceeds the remaining wall-time budget of {_duration(remaining)}; lower the number of "
            "events or raise MADAGENTS_BUDGET__WALL_S"
        )
        return Estimate(text=text, error=error)
    return Estimate(text=text)


def check_event_budget(workflow: Workflow, wall_s: float) -> None:
    """Refuse, before anything runs, a sample that cannot be generated within the wall-time budget ``wall_s``.

    No pilot run is needed for that: even at :data:`FASTEST_EVENTS_PER_S` per chunk, the estimate is a lower bound
    on the time, so only samples that certainly do not fit are refused.
    """
    chunks = workflow.generator.chunks
    # a workflow's samples are generated one after the other (side by side only on a Dask cluster)
    events = workflow.events + sum(sample.events or workflow.events for sample in workflow.other_samples())
    seconds = events / (FASTEST_EVENTS_PER_S * chunks)
    if seconds <= wall_s:
        return
    fits = int(wall_s * FASTEST_EVENTS_PER_S * chunks)
    every = " (of all samples together)" if workflow.samples else ""
    msg = (
        f"events: {events} events{every} need at least {_duration(seconds)} of CPU ({chunks} chunk(s) at "
        f"{FASTEST_EVENTS_PER_S:.0f} events/s each, faster than any generation measured), more than the run's "
        f"wall-time budget of {_duration(wall_s)}; ask for at most {fits} events, or raise MADAGENTS_BUDGET__WALL_S"
    )
    raise UserInputError(msg)


def _duration(seconds: float) -> str:
    if seconds >= DAY:
        return f"{seconds / DAY:.3g} days"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"  # noqa: PLR2004 - two minutes
