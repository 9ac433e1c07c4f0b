"""Several samples in one workflow, end to end with real Pythia8: a 3 TeV SSM Z′ → μμ signal over Drell–Yan and
tt̄ → ℓℓνν bb̄ backgrounds, 200 events each, stacked by σ·L with a ratio panel.

The stack is checked against the samples' own histograms scaled by hand (σ·L / N from each generation result),
so the plot tool's arithmetic is not trusted by the test that checks it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hist
import numpy as np
import pytest
import uhi.io.json
import yaml
from PIL import Image

from madagents.results import RunResult
from madagents.runner import start_run
from madagents.settings import Settings
from madagents.validation import load_hist
from madagents.workflow import workflow_from_yaml
from madagents_tools.generation import pythia8_generate
from tests.conftest import REPO

pytestmark = pytest.mark.slow

EVENTS = 200
LUMINOSITY_FB = 140.0


def _workflow() -> Any:
    """The shipped Z′ over Drell–Yan workflow, with tt̄ as a second background and the selection opened to 200 GeV."""
    data = yaml.safe_load((REPO / "workflows/zprime_ssm_mumu_with_dy.yaml").read_text())
    data["samples"][1]["process"]["mass_min_gev"] = 200
    data["samples"].append(
        {
            "name": "ttbar",
            "role": "background",
            "process": {"name": "ttbar", "final_state": ["l+", "l-", "nu", "nu", "b", "b~"]},
        }
    )
    data["analysis"]["cuts"][-1]["min"] = 200
    data["analysis"]["histograms"][0].update(bins=40, range=[200, 4200])
    return workflow_from_yaml(yaml.safe_dump(data), Path("samples.yaml"), events=EVENTS)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples") / "run"
    start_run(_workflow(), out, Settings(verify_events=50, sandbox="local"), ["madagents", "run", "test"])
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "succeeded", status
    return out


def _scaled(run_dir: Path, sample: str | None) -> Any:
    """A sample's own histogram × σ·L / N, from its generation's σ and events (Pythia8's weights are 1)."""
    suffix, folder = ("", "hists") if sample is None else (f"_{sample}", f"hists/samples/{sample}")
    generation = pythia8_generate.Result.model_validate_json(
        (run_dir / f"steps/01-generate{suffix}/result.json").read_text()
    )
    assert generation.sigma_pb is not None
    return load_hist(run_dir / folder / "m_mumu.json") * (generation.sigma_pb * 1000 * LUMINOSITY_FB / EVENTS)


def test_stack_is_the_sum_of_the_backgrounds_scaled_by_sigma_times_luminosity(run_dir: Path) -> None:
    content = json.loads((run_dir / "hists/samples/m_mumu.json").read_text(), object_hook=uhi.io.json.object_hook)
    stack = hist.Hist(content["backgrounds"])
    expected = _scaled(run_dir, "drell_yan") + _scaled(run_dir, "ttbar")
    np.testing.assert_allclose(stack.values(flow=True), expected.values(flow=True), rtol=1e-9)
    np.testing.assert_allclose(stack.variances(flow=True), expected.variances(flow=True), rtol=1e-9)
    signal = hist.Hist(content["samples"]["zprime"])
    np.testing.assert_allclose(signal.values(), _scaled(run_dir, None).values(), rtol=1e-9)
    # both backgrounds are in the stack, and the Z' stands out above it near 3 TeV
    assert _scaled(run_dir, "drell_yan").sum().value > 0
    assert _scaled(run_dir, "ttbar").sum().value > 0
    assert float(signal.axes[0].centers[np.argmax(signal.values())]) == pytest.approx(3000, abs=200)


def test_plot_report_and_reproduce_name_every_sample(run_dir: Path) -> None:
    png = run_dir / "hists/samples/m_mumu.png"
    with Image.open(png) as image:
        shown = json.loads(image.text["Description"])  # type: ignore[attr-defined]
    assert [sample["name"] for sample in shown["samples"]] == ["zprime", "drell_yan", "ttbar"]
    assert (shown["style"], shown["ratio"], shown["log_y"]) == ("stack", "total_over_background", True)
    assert "Z/\\gamma^{*}" in shown["samples"][1]["legend"]
    report = (run_dir / "report.md").read_text()
    assert "### Samples" in report
    for name in ("zprime", "drell_yan", "ttbar"):
        generation = json.loads(
            (run_dir / f"steps/01-generate{'' if name == 'zprime' else '_' + name}/result.json").read_text()
        )
        assert f"| {name} |" in report
        assert f"{generation['sigma_pb']:.5g} ±" in report
    assert "![m_mumu, samples](hists/samples/m_mumu.png)" in report
    script = (run_dir / "reproduce.sh").read_text()
    assert all(f"steps/01-generate_{name}/request.json" in script for name in ("drell_yan", "ttbar"))
    verdict = report.split("**Verdict:**")[1].splitlines()[0]
    assert verdict.strip().startswith("signed off"), verdict
    assert "| samples plot m_mumu | ✓ pass |" in report
    # the Z' peak is checked on the signal alone
    assert "| peak m_mumu (02-analyze) | ✓ pass |" in report
    assert "peak m_mumu (02-analyze_drell_yan)" not in report


def test_the_python_api_reads_every_sample_s_histograms_and_the_stacked_plot(run_dir: Path) -> None:
    result = RunResult.open(run_dir)
    assert result.status == "succeeded"
    assert result.plots["samples/m_mumu"] == run_dir / "hists/samples/m_mumu.png"
    assert {"m_mumu", "samples/drell_yan/m_mumu", "samples/ttbar/m_mumu"} <= set(result.hists)
    assert all(path.is_file() for path in result.plots.values())
