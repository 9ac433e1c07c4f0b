"""Several samples in one workflow: the schema, the plan it gives, and the plot of the samples together."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import hist
import hist.serialization
import numpy as np
import pytest
import uhi.io.json
import yaml
from PIL import Image

from madagents.agents.planner import plan_workflow
from madagents.agents.seeds import derive_seed, sample_seed
from madagents.errors import UserInputError
from madagents.sample_gates import gate_sample_plots
from madagents.state import Expectations, Plan, PlanStep, Role
from madagents.workflow import load_workflow, workflow_from_yaml
from madagents_tools.analysis import analyze, plot_samples
from madagents_tools.analysis.analysis_spec import HistogramSpec, PlotOptions
from madagents_tools.analysis.plotting import PB_PER_FB
from tests.conftest import DRELL_YAN

SHIPPED = Path("workflows/zprime_ssm_mumu_with_dy.yaml")


def _shipped_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    return data


def _load(data: dict[str, Any], **overrides: int) -> Any:
    return workflow_from_yaml(yaml.safe_dump(data), Path("test.yaml"), **overrides)


def test_shipped_workflow_plans_each_sample_with_its_own_seed() -> None:
    workflow = load_workflow(SHIPPED)
    plan = plan_workflow(workflow)
    ids = [step.id for step in plan.steps]
    assert ids == ["01-generate", "02-analyze", "01-generate_drell_yan", "02-analyze_drell_yan", "03-plot_samples"]
    dy_generate = plan.step("01-generate_drell_yan").request
    assert getattr(dy_generate, "root_path", None) == "events/samples/drell_yan/events.root"
    assert getattr(plan.step("02-analyze_drell_yan").request, "out_dir", None) == "hists/samples/drell_yan"
    # the workflow's own sample keeps the single-sample seed; the further one derives from the run seed and its name
    assert plan.derived_seeds["pythia8"] == derive_seed(workflow.seed, "pythia8")
    assert plan.derived_seeds["drell_yan:pythia8"] == derive_seed(sample_seed(workflow.seed, "drell_yan"), "pythia8")
    assert getattr(dy_generate, "seed", None) == plan.derived_seeds["drell_yan:pythia8"]
    assert plan.step("03-plot_samples").needs == ["02-analyze", "02-analyze_drell_yan"]
    # the Z' peak is checked on the Z' sample only, not on Drell–Yan
    (peak,) = plan.expectations.peaks
    assert peak.steps == ["02-analyze"]
    assert "PhaseSpace:mHatMin = 1000" in getattr(dy_generate, "settings", [])


def test_single_sample_plans_dump_as_before() -> None:
    dumped = plan_workflow(load_workflow(DRELL_YAN)).model_dump_json()
    for key in ('"samples"', '"style"', '"ratio"', '"steps": null', "plot_samples"):
        assert key not in dumped
    assert "samples" not in load_workflow(DRELL_YAN).model_dump()


def test_events_override_sizes_every_sample() -> None:
    workflow = _load(_shipped_data(), events=50)
    assert workflow.events == 50
    assert [sample.events for sample in workflow.other_samples()] == [50]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["samples"].pop(0), r"exactly one of them without a process"),
        (lambda d: d["samples"][1].pop("process"), r"exactly one of them without a process.*got 2"),
        (lambda d: d["samples"][1].update(name="zprime"), r"samples need distinct names"),
        (lambda d: d["samples"][0].update(events=10), r"sample zprime has no process.*remove its mg5 and events"),
        (lambda d: d["analysis"]["plots"].update(normalisation="events"), r"stacking adds samples by their cross"),
        (lambda d: d["samples"][1].update(role="signal"), r"no sample has role background"),
        (
            lambda d: d["analysis"]["plots"].update(normalisation="events", style="overlay"),
            r"ratio total_over_background adds the samples by their cross sections",
        ),
        (lambda d: d["analysis"]["plots"].update(ratio_reference="dy"), r"ratio_reference names the sample of ratio"),
        (
            lambda d: d["analysis"]["plots"].update(ratio="over_reference", ratio_reference="dy"),
            r"ratio_reference 'dy' is not a sample; samples are \['zprime', 'drell_yan'\]",
        ),
        (lambda d: d["samples"][1]["process"].update(name="drell_yna"), r"samples.1.process.name: unknown process"),
        (
            lambda d: d.update(generator={"settings": ["WeakSingleBoson:ffbar2gmZ = off"]}),
            r"samples\[1\] \(drell_yan\): .*WeakSingleBoson:ffbar2gmZ",
        ),
        (lambda d: d.pop("samples"), r"analysis.plots.style and ratio draw several samples"),
    ],
)
def test_bad_samples_are_input_errors(change: Any, message: str) -> None:
    data = copy.deepcopy(_shipped_data())
    change(data)
    with pytest.raises(UserInputError, match=message):
        _load(data)


def test_overlay_by_events_and_ratio_over_a_reference_are_accepted() -> None:
    data = copy.deepcopy(_shipped_data())
    data["analysis"]["plots"] = {"style": "overlay", "ratio": "over_reference", "ratio_reference": "zprime"}
    workflow = _load(data)
    assert workflow.analysis.plots.style == "overlay"
    plot = plan_workflow(workflow).step("03-plot_samples").request
    assert isinstance(plot, plot_samples.Request)
    assert [(s.name, s.role) for s in plot.samples] == [("zprime", "signal"), ("drell_yan", "background")]


# --- the plot tool and its gate, on histograms made here --------------------------------------------------------

SPEC = HistogramSpec(name="m_mumu", observable="mass(muons[0], muons[1])", bins=4, range=(0.0, 4.0), label="m")
LUMINOSITY_FB = 10.0


def _sample(run_dir: Path, name: str, values: list[float], sigma_pb: float, n_read: int) -> str:
    """A sample's analysis as the analyze tool leaves it: its histogram JSON and result.json."""
    histogram = hist.Hist(hist.axis.Regular(4, 0.0, 4.0), storage=hist.storage.Weight())
    histogram.fill(values)
    folder = "hists" if name == "signal" else f"hists/samples/{name}"
    (run_dir / folder).mkdir(parents=True, exist_ok=True)
    json_path = f"{folder}/m_mumu.json"
    (run_dir / json_path).write_text(json.dumps(hist.serialization.to_uhi(histogram), default=uhi.io.json.default))
    record = analyze.HistogramRecord(
        name="m_mumu",
        json_path=json_path,
        png_path=f"{folder}/m_mumu.png",
        observable=SPEC.observable,
        bins=4,
        range=(0.0, 4.0),
        entries=len(values),
        legend=name,
        normalisation="luminosity",
        scale=sigma_pb / n_read * PB_PER_FB * LUMINOSITY_FB,
    )
    row = analyze.CutflowRow(cut="all events", events=n_read, weight_sum=n_read, sigma_pb=sigma_pb)
    result = analyze.Result(
        ok=True, sigma_pb=sigma_pb, sigma_err_pb=sigma_pb / 10, n_events=n_read, histograms=[record], cutflow=[row]
    )
    step = f"02-analyze_{name}"
    (run_dir / "steps" / step).mkdir(parents=True)
    (run_dir / "steps" / step / "result.json").write_text(result.model_dump_json())
    return step


@pytest.fixture
def three_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Plan, dict[str, Any]]:
    monkeypatch.chdir(tmp_path)  # tools run in the run directory
    steps = {
        "signal": _sample(tmp_path, "signal", [2.5, 2.5, 2.6, 1.5], sigma_pb=0.5, n_read=4),
        "dy": _sample(tmp_path, "dy", [0.5, 0.5, 1.5, 3.5, 9.0], sigma_pb=2.0, n_read=6),
        "ttbar": _sample(tmp_path, "ttbar", [0.5, 1.5, 1.5], sigma_pb=3.0, n_read=3),
    }
    request = plot_samples.Request(
        samples=[
            plot_samples.SampleInput(
                name=name, role=role, label=f"Pythia8 {name}", analysis_result_path=f"steps/{steps[name]}/result.json"
            )
            for name, role in (("signal", "signal"), ("dy", "background"), ("ttbar", "background"))
        ],
        histograms=[SPEC],
        plots=PlotOptions(
            normalisation="luminosity", luminosity_fb=LUMINOSITY_FB, style="stack", ratio="total_over_background"
        ),
        sqrt_s_gev=13000,
    )
    step = PlanStep(id="03-plot_samples", role=Role.ANALYST, description="plot", request=request)
    plan = Plan(
        workflow="t",
        summary="",
        run_seed=1,
        derived_seeds={},
        steps=[step],
        expectations=Expectations(n_events=4),
        assumptions=[],
        required_packages=[],
    )
    results: dict[str, Any] = {
        step_id: analyze.Result.model_validate_json((tmp_path / "steps" / step_id / "result.json").read_text())
        for step_id in steps.values()
    }
    return tmp_path, plan, results


def test_stack_is_the_sum_of_the_scaled_backgrounds(three_samples: tuple[Path, Plan, dict[str, Any]]) -> None:
    run_dir, plan, results = three_samples
    request = plan.steps[0].request
    assert isinstance(request, plot_samples.Request)
    result = plot_samples.run(request)
    assert result.ok, result.error
    content = json.loads((run_dir / "hists/samples/m_mumu.json").read_text(), object_hook=uhi.io.json.object_hook)
    stack = hist.Hist(content["backgrounds"])
    # σ·L / N per event, by hand: dy 2 pb × 10 fb⁻¹ / 6 events, ttbar 3 pb × 10 fb⁻¹ / 3 events (flow bins included)
    dy = np.array([0, 2, 1, 0, 1, 1]) * 2.0 * 1000 * LUMINOSITY_FB / 6
    ttbar = np.array([0, 1, 2, 0, 0, 0]) * 3.0 * 1000 * LUMINOSITY_FB / 3
    np.testing.assert_allclose(stack.values(flow=True), dy + ttbar)
    np.testing.assert_allclose(hist.Hist(content["samples"]["signal"]).values(), np.array([0, 1, 3, 0]) * 1250.0)
    (plot,) = result.plots
    assert (plot.style, plot.ratio, plot.normalisation) == ("stack", "total_over_background", "luminosity")
    with Image.open(run_dir / plot.png_path) as image:
        shown = json.loads(image.text["Description"])  # type: ignore[attr-defined]
    assert [sample["name"] for sample in shown["samples"]] == ["signal", "dy", "ttbar"]
    assert "Pythia8 dy" in shown["samples"][1]["legend"]
    results["03-plot_samples"] = result
    (gate,) = gate_sample_plots(run_dir, plan, results)
    assert gate.passed, gate.message


def test_gate_fails_a_stack_drawn_with_another_scale(three_samples: tuple[Path, Plan, dict[str, Any]]) -> None:
    run_dir, plan, results = three_samples
    request = plan.steps[0].request
    assert isinstance(request, plot_samples.Request)
    doubled = analyze.Result.model_validate_json((run_dir / "steps/02-analyze_dy/result.json").read_text())
    record = doubled.histograms[0].model_copy(update={"scale": 2 * doubled.histograms[0].scale})
    (run_dir / "steps/02-analyze_dy/result.json").write_text(
        doubled.model_copy(update={"histograms": [record]}).model_dump_json()
    )
    results["03-plot_samples"] = plot_samples.run(request)
    (gate,) = gate_sample_plots(run_dir, plan, results)
    assert not gate.passed
    assert "sample dy's m_mumu is drawn scaled by" in gate.message


def test_overlay_by_events_draws_shapes(three_samples: tuple[Path, Plan, dict[str, Any]]) -> None:
    run_dir, plan, _ = three_samples
    request = plan.steps[0].request
    assert isinstance(request, plot_samples.Request)
    overlay = request.model_copy(
        update={"plots": PlotOptions(style="overlay", ratio="over_reference", ratio_reference="dy")}
    )
    result = plot_samples.run(overlay)
    assert result.ok, result.error
    (plot,) = result.plots
    assert plot.normalisation == "shape"
    assert [round(sample.in_range, 12) for sample in plot.samples] == [1.0, 1.0, 1.0]
    content = json.loads((run_dir / plot.json_path).read_text())
    assert content["backgrounds"] is None  # shapes are not summed
    assert (run_dir / plot.png_path).stat().st_size > 0


def test_a_failed_sample_analysis_is_reported(three_samples: tuple[Path, Plan, dict[str, Any]]) -> None:
    run_dir, plan, _ = three_samples
    (run_dir / "steps/02-analyze_ttbar/result.json").write_text(
        analyze.Result(ok=False, error="no events").model_dump_json()
    )
    request = plan.steps[0].request
    assert isinstance(request, plot_samples.Request)
    result = plot_samples.run(request)
    assert not result.ok
    assert result.error == "the analysis of sample ttbar failed (no events); there is nothing to plot"


def _paths(plan: Plan) -> dict[str, list[str]]:
    return {
        step.id: [value for key, value in step.request.model_dump().items() if key.endswith(("_path", "_dir"))]
        for step in plan.steps
    }


def test_a_samples_chunks_and_detector_files_lie_in_its_folder() -> None:
    data = copy.deepcopy(_shipped_data())
    data["detector"] = {"backend": "parametric", "card": "atlas"}
    data["generator"] = {"hepmc": True}
    paths = _paths(plan_workflow(_load(data, chunks=2)))
    assert paths["01-generate_c1_drell_yan"][:2] == [
        "events/samples/drell_yan/chunks/c1.hepmc3",
        "events/samples/drell_yan/chunks/c1.root",
    ]
    assert "events/samples/drell_yan/events.hepmc3" in paths["02-merge_drell_yan"]
    assert "events/samples/drell_yan/events.root" in paths["02-merge_drell_yan"]
    assert "events/samples/drell_yan/detector.root" in paths["03-detector_drell_yan"]
    assert "events/detector.root" in paths["03-detector"]
    assert paths["04-analyze_drell_yan"][0] == "events/samples/drell_yan/detector.root"


def test_an_mg5_sample_has_its_own_process_directory_and_seed() -> None:
    data = copy.deepcopy(_shipped_data())
    data["samples"].append(
        {
            "name": "dy_mg5",
            "role": "background",
            "process": {"produces": ["Z0"]},
            "mg5": {"processes": ["p p > mu+ mu-"]},
        }
    )
    plan = plan_workflow(_load(data))
    paths = _paths(plan)
    lhe = "events/samples/dy_mg5/unweighted_events.lhe"
    assert paths["01-mg5_dy_mg5"] == ["mg5/samples/dy_mg5/process", "mg5/samples/dy_mg5", lhe]
    assert lhe in paths["02-shower_dy_mg5"]
    assert "dy_mg5:mg5" in plan.derived_seeds
    assert plan.step("04-plot_samples").needs == ["02-analyze", "02-analyze_drell_yan", "03-analyze_dy_mg5"]


def test_the_plot_request_refuses_a_ratio_it_cannot_draw() -> None:
    samples = [
        plot_samples.SampleInput(name=name, role="background", label=name, analysis_result_path=f"steps/{name}.json")
        for name in ("dy", "ttbar")
    ]
    with pytest.raises(ValueError, match="ratio total_over_background needs signal and background samples"):
        plot_samples.Request(samples=samples, histograms=[SPEC], plots=PlotOptions(ratio="total_over_background"))
    with pytest.raises(ValueError, match="ratio_reference 'zz' is not one of the samples"):
        plot_samples.Request(
            samples=samples, histograms=[SPEC], plots=PlotOptions(ratio="over_reference", ratio_reference="zz")
        )


def test_the_event_budget_counts_every_sample() -> None:
    from madagents.agents.estimate import FASTEST_EVENTS_PER_S, check_event_budget  # noqa: PLC0415

    workflow = _load(_shipped_data(), events=1000)
    check_event_budget(workflow, wall_s=2000 / FASTEST_EVENTS_PER_S)  # two samples of 1000 events fit
    with pytest.raises(UserInputError, match=r"events: 2000 events \(of all samples together\) need at least"):
        check_event_budget(workflow, wall_s=1500 / FASTEST_EVENTS_PER_S)
