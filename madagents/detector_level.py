"""Which parts of the analysis language a detector simulation makes meaningless, refused before anything runs.

At particle level the analysis defines its objects from the generated particles: jets clustered with
``analysis.jets``, c-tags from C hadrons, photons, hadronic taus. A detector simulation writes its own objects
instead, and the analysis reads those. An option it cannot honour would otherwise be ignored in silence (a
Delphes card clusters jets with its own FastJetFinder settings) or fail after generation (no such branch).
"""

from __future__ import annotations

from typing import Literal

from madagents_tools.analysis.analysis_spec import AnalysisSpec, ObjectSelection
from madagents_tools.io.final_state import JetDefinition

__all__ = ["detector_conflict"]

Backend = Literal["parametric", "delphes"]

_WRITES = {
    "parametric": {"muon", "electron", "jet"},
    "delphes": {"muon", "electron", "photon", "jet"},
}
"""The object collections each detector simulation writes (tools/detector/parametric_detector.py, Delphes' TreeWriter
as tools/io/event_io.py reads it)."""


def detector_conflict(analysis: AnalysisSpec, backend: Backend, card: str) -> str | None:
    """Why the analysis cannot run on the detector simulation's output as asked, or None when it can."""
    # a changed value, not model_fields_set: a checkpoint stores the default as set, and a reloaded run would fail
    if backend == "delphes" and analysis.jets != JetDefinition():
        return (
            "analysis.jets chooses how particle-level jets are clustered and tagged, but with detector backend "
            f"delphes the Delphes card ({card}) clusters and b-tags the jets itself (its FastJetFinder and "
            "BTagging modules), so it would be ignored; remove analysis.jets, or give a Delphes card whose jet "
            "settings are the ones you want"
        )
    for name, definition in analysis.objects.items():
        if not isinstance(definition, ObjectSelection):
            continue
        if definition.collection not in _WRITES[backend]:
            return (
                f"analysis.objects.{name} selects {definition.collection} objects, which the {backend} detector "
                f"simulation does not write (it writes {', '.join(sorted(_WRITES[backend]))}); select those at "
                "particle level (no detector), or use another detector backend"
            )
        if definition.ctag is not None:
            return (
                f"analysis.objects.{name} asks for ctag, a particle-level tag by C hadrons; the {backend} detector "
                "simulation writes b-tags only; remove ctag, or run at particle level (no detector)"
            )
    return None
