"""``madagents.run`` as a notebook calls it: a real (small) Pythia8 run, its result typed and read back."""

from __future__ import annotations

import json
from pathlib import Path

import hist
import pytest

import madagents
from tests.conftest import DRELL_YAN

pytestmark = pytest.mark.slow


def test_run_returns_sigma_hists_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADAGENTS_SANDBOX", "docker")  # the argument wins over the environment
    result = madagents.run(DRELL_YAN, out=tmp_path / "dy", events=300, seed=11, sandbox="local", progress=False)
    assert result.status == "succeeded"
    assert result.error is None
    assert result.n_events == 300
    generation = json.loads((tmp_path / "dy/steps/01-generate/result.json").read_text())
    assert result.sigma_pb == generation["sigma_pb"]
    assert result.sigma_err_pb == generation["sigma_err_pb"]
    assert result.fiducial_sigma_pb is not None
    assert 0 < result.fiducial_sigma_pb < result.sigma_pb
    m_mumu = result.hists["m_mumu"]
    assert isinstance(m_mumu, hist.Hist)
    assert m_mumu.axes[0].edges[0] == 60
    assert m_mumu.sum(flow=True).value == result.n_selected
    assert result.plots["m_mumu"] == tmp_path / "dy/hists/m_mumu.png"
    assert result.plots["m_mumu"].is_file()
    assert result.report.is_file()
    assert result.reproduce_script.is_file()
    assert "σ = " in result._repr_markdown_()
    assert madagents.RunResult.open(tmp_path / "dy") == result
