"""A reanalysis: a workflow's analysis run on the events of a finished run (``madagents reanalyze``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from madagents.workflow import AnyWorkflow, Workflow

__all__ = ["AnyRun", "Reanalysis", "SourceRun"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRun(_Strict):
    """The finished run whose events a reanalysis reads, with the sha256 its provenance recorded."""

    path: str = Field(description="The source run directory (absolute).")
    run_id: str
    events_path: str = Field(description="Its events file, relative to it (what its analysis read).")
    events_sha256: str
    generation_result_path: str = Field(description="The result of the step that gave the sample's σ.")
    generation_sha256: str
    n_events: int = Field(gt=0)
    other_samples: list[str] = Field(
        default_factory=list,
        description="The source's further samples (a workflow with samples): not reanalysed, its own sample is.",
        exclude_if=lambda value: not value,
    )


class Reanalysis(_Strict):
    """A new analysis of a finished run's events, without generating them again (``madagents reanalyze``)."""

    kind: Literal["reanalysis"] = "reanalysis"
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    workflow: Workflow = Field(description="The workflow whose analysis and checks run; its process is the source's.")
    source: SourceRun


AnyRun = AnyWorkflow | Reanalysis
"""What a run executes without a model: a workflow, or a reanalysis of an earlier run's events."""
