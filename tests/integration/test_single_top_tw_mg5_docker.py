"""tW with the real MG5 in the hep-full image: the workflow's seed gives the recorded output the stand-in answers
with in test_single_top_tw_mg5_workflow.py (tests/fixtures/mg5/pp_tw), byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from tests.conftest import REPO
from tests.integration.catalogue_runs import sigma_pb

pytestmark = [pytest.mark.docker, pytest.mark.slow]

RECORDED = REPO / "tests" / "fixtures" / "mg5" / "pp_tw"


def test_real_mg5_gives_the_recorded_tw_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hep_full_image: str
) -> None:
    monkeypatch.setenv("MADAGENTS_SANDBOX", "docker")
    monkeypatch.setenv("MADAGENTS_IMAGE_FULL", hep_full_image)
    monkeypatch.setenv("MADAGENTS_VERIFY_EVENTS", "50")
    monkeypatch.setenv("MADAGENTS_MG5_CACHE_DIR", str(tmp_path / "mg5-cache"))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(REPO / "workflows/single_top_tw_mg5.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lhe = (out / "events/unweighted_events.lhe").read_bytes()
    assert lhe == (RECORDED / "unweighted_events_first200.lhe").read_bytes()
    assert sigma_pb(out, step="02-shower") == pytest.approx(55.866, rel=1e-4)  # <init>: 27.895 + 27.971 pb
