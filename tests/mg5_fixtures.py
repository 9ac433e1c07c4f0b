"""The recorded MG5 3.5.7 outputs (tests/fixtures/mg5) and the Drell–Yan MG5 request the MG5 tool tests share."""

from __future__ import annotations

from typing import Any

from madagents_tools.generation.mg5_generate import Request
from tests.conftest import REPO

__all__ = ["BANNER", "DRELL_YAN_CARD", "FIXTURES", "LHE_200", "MUMU", "TTBAR", "drell_yan"]

FIXTURES = REPO / "tests" / "fixtures" / "mg5"
MUMU, TTBAR = FIXTURES / "pp_mumu", FIXTURES / "pp_ttbar"
LHE_200 = "unweighted_events_first200.lhe"
BANNER = "run_01_tag_1_banner.txt"
DRELL_YAN_CARD: dict[str, Any] = {"ebeam1": 6500, "ebeam2": 6500, "mmll": 60}


def drell_yan(**changes: Any) -> Request:
    """pp → μ⁺μ⁻ (m_ll > 60 GeV) at 13 TeV, 200 events, seed 12345, with ``changes`` applied."""
    fields: dict[str, Any] = {"processes": ["p p > mu+ mu-"], "run_card": DRELL_YAN_CARD, "seed": 12345}
    return Request(**(fields | {"n_events": 200} | changes))
