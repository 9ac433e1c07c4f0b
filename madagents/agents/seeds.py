"""Seeds: every stochastic step gets one, derived from the run seed and the step's purpose."""

from __future__ import annotations

import hashlib

from madagents.workflow import Workflow
from madagents_tools.generation import pythia8_generate

__all__ = ["derive_seed", "run_seeds", "sample_seed"]


def derive_seed(run_seed: int, purpose: str) -> int:
    """A seed for one stochastic step, fixed by the run seed and the step's purpose."""
    digest = hashlib.sha256(f"{run_seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % pythia8_generate.MAX_PYTHIA_SEED + 1


def run_seeds(workflow: Workflow) -> dict[str, int]:
    """Seed of every stochastic step (MG5, Pythia8 per chunk, detector, ML steps), all from the run seed."""
    chunks = workflow.generator.chunks
    purposes = ["pythia8"] if chunks == 1 else [f"pythia8:chunk{index}/{chunks}" for index in range(1, chunks + 1)]
    if workflow.generator.mg5 is not None:
        purposes.insert(0, "mg5")
    if workflow.detector is not None:
        purposes.append("detector")
    if workflow.ml_generator is not None:
        purposes += ["cfm", "classifier"]
        if workflow.generator.mg5 is None and workflow.detector is None:
            # an independent Pythia8 sample for the classifier to compare with (not the one the flow learnt);
            # from MG5 events or behind a detector it would need the whole chain again
            purposes.append("reference")
    return {purpose: derive_seed(workflow.seed, purpose) for purpose in purposes}


def sample_seed(run_seed: int, sample: str) -> int:
    """The seed a further sample's own seeds derive from: its chunks, MG5 and detector seeds differ from the run's."""
    return derive_seed(run_seed, f"sample:{sample}")
