"""Cost of the generation step before it runs: a short pilot run measures events per second."""

from __future__ import annotations

from dataclasses import dataclass

from madagents.context import RunContext
from madagents.state import PlanStep, RunState
from madagents.toolcall import call_tool
from tools import pythia8_generate

__all__ = ["Estimate", "estimate_generation"]

PILOT_FACTOR = 4
"""Samples up to this many pilot sizes are cheap enough to run without an estimate."""


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
            "hepmc_path": f"{pilot_dir}/events.hepmc3",
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
    ctx.reporter.note(text)
    if ctx.confirm is not None:
        if not ctx.confirm(f"{text} Generate them?"):
            return Estimate(text=text, error="the user declined the generation step after the estimate")
        return Estimate(text=text)
    remaining = ctx.settings.budget.wall_s - state.spend.seconds
    if seconds > remaining:
        error = (
            f"{text} That exceeds the remaining wall-time budget of {_duration(remaining)}; lower the number of "
            "events or raise MADAGENTS_BUDGET__WALL_S"
        )
        return Estimate(text=text, error=error)
    return Estimate(text=text)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"  # noqa: PLR2004 - two minutes
