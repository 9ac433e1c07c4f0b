"""The process catalogue: Pythia8 settings of each recipe and the final states a workflow may ask for."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from madagents.agents.planner import plan_workflow
from madagents.errors import UserInputError
from madagents.processes import CATALOGUE, render_settings
from madagents.state import AssumptionSource
from madagents.workflow import ProcessSpec, load_workflow
from madagents_tools.generation import pythia8_generate
from tests.conftest import REPO

TTBAR_EMU = REPO / "workflows" / "ttbar_emu.yaml"
ELECTRON, MUON = 11, 13
W_TO_LEPTON_BR = 0.1081


def _settings(name: str, final_state: list[str], **parameters: float) -> list[str]:
    process = ProcessSpec.model_validate({"name": name, "final_state": final_state, **parameters})
    return render_settings(CATALOGUE[name], process.choice())


@pytest.fixture
def ttbar_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TTBAR_EMU.read_text())
    return data


def _write(tmp_path: Path, data: dict[str, Any], final_state: list[str]) -> Path:
    changed = copy.deepcopy(data)
    changed["process"]["final_state"] = final_state
    path = tmp_path / "ttbar.yaml"
    path.write_text(yaml.safe_dump(changed, allow_unicode=True))
    return path


def test_ttbar_settings_open_one_charge_assignment_of_the_w_decays() -> None:
    # e⁺ has PDG id -11: it comes from the W⁺ (Pythia's "Pos" = the particle 24), the μ⁻ from the W⁻
    lines = _settings("ttbar", ["e+", "mu-"])
    assert lines == [
        "Top:gg2ttbar = on",
        "Top:qqbar2ttbar = on",
        "6:m0 = 172.5",
        "24:onMode = off",
        "24:onPosIfAny = 11",
        "24:onNegIfAny = 13",
    ]


def test_ttbar_settings_do_not_depend_on_the_order_of_the_final_state() -> None:
    assert _settings("ttbar", ["mu-", "e+"]) == _settings("ttbar", ["e+", "mu-"])


def test_the_other_charge_assignment_swaps_the_w_channels() -> None:
    lines = _settings("ttbar", ["e-", "mu+"])
    assert {"24:onPosIfAny = 13", "24:onNegIfAny = 11"} <= set(lines)


def test_drell_yan_recipe_is_unchanged() -> None:
    assert _settings("drell_yan", ["mu+", "mu-"], mass_min_gev=60.0) == [
        "WeakSingleBoson:ffbar2gmZ = on",
        "23:onMode = off",
        "23:onIfMatch = 13 -13",
        "PhaseSpace:mHatMin = 60",
    ]
    assert CATALOGUE["drell_yan"].resonances == (23,)
    assert CATALOGUE["drell_yan"].notes == ()


def test_shipped_ttbar_workflow_follows_the_fiducial_selection() -> None:
    workflow = load_workflow(TTBAR_EMU)
    assert (workflow.beams.sqrt_s_gev, workflow.events) == (13000, 10000)
    assert set(workflow.process.pdg_ids()) == {-ELECTRON, MUON}
    objects = workflow.analysis.objects
    for name in ("electrons", "muons", "jets", "bjets"):
        assert (objects[name].pt_min_gev, objects[name].abs_eta_max) == (25, 2.5), name
    assert objects["electrons"].isolation_max == objects["muons"].isolation_max == 0.15
    assert objects["bjets"].btag is True
    names = [spec.name for spec in workflow.analysis.histograms]
    assert names == ["m_emu", "pt_e", "pt_mu", "n_jets", "n_bjets"]


def test_ttbar_plan_clusters_jets_and_reports_top_and_w_decay_tables() -> None:
    plan = plan_workflow(load_workflow(TTBAR_EMU))
    generate = plan.step_request(pythia8_generate.Request)
    assert generate.jets is not None
    assert generate.jets.radius == 0.4
    assert generate.resonances == [6, 24, -24]
    assert "fastjet" in plan.required_packages
    # the W branching ratios are already in Pythia8's σ, so the fiducial gate applies none
    assert plan.expectations.channel_branching_fraction == 1.0
    assert plan.expectations.peaks == []


def test_ttbar_assumptions_state_the_channel_and_the_branching_fraction_in_sigma() -> None:
    topics = {a.topic: a for a in plan_workflow(load_workflow(TTBAR_EMU)).assumptions}
    assert "b e⁺ν_e b̄ μ⁻ν̄_μ" in topics["Decay channel"].choice
    assert topics["Decay channel"].source == AssumptionSource.TASK
    branching = topics["Branching fraction in σ"].choice
    assert f"{W_TO_LEPTON_BR**2:.5f}" in branching
    assert "0.01138" in branching  # the PDG product the reviewer's arithmetic uses
    assert "172.5" in topics["Top quark"].choice


@pytest.mark.parametrize("final_state", [["mu+", "mu-"], ["e+", "mu+"], ["e+", "e-"]])
def test_ttbar_rejects_final_states_outside_the_emu_channel(
    tmp_path: Path, ttbar_data: dict[str, Any], final_state: list[str]
) -> None:
    path = _write(tmp_path, ttbar_data, final_state)
    written = ", ".join(repr(name) for name in final_state).replace("+", r"\+")
    with pytest.raises(
        UserInputError, match=rf"process ttbar cannot produce \[{written}\]; choose one of \[e\+, mu-\]"
    ):
        load_workflow(path)


def test_ttbar_accepts_the_other_charge_assignment(tmp_path: Path, ttbar_data: dict[str, Any]) -> None:
    workflow = load_workflow(_write(tmp_path, ttbar_data, ["mu+", "e-"]))
    assert set(workflow.process.pdg_ids()) == {ELECTRON, -MUON}


LEPTOQUARK_S1 = REPO / "workflows" / "leptoquark_s1.yaml"


def test_leptoquark_settings_open_pair_production_and_one_decay_channel() -> None:
    lines = _settings("leptoquark_s1", ["mu-", "mu+"], mass_gev=1200.0)
    assert "LeptoQuark:all = on" not in lines
    assert {"LeptoQuark:gg2LQLQbar = on", "LeptoQuark:qqbar2LQLQbar = on", "42:m0 = 1200"} <= set(lines)
    assert "42:oneChannel = 1 1.0 0 2 13" in lines
    assert {"42:mMin = 600", "42:mMax = 1800"} <= set(lines)


def test_leptoquark_plan_expects_the_peak_at_the_generated_mass() -> None:
    plan = plan_workflow(load_workflow(LEPTOQUARK_S1))
    (peak,) = plan.expectations.peaks
    assert (peak.histogram, peak.mass_gev) == ("m_muj", 1000.0)
    topics = {assumption.topic for assumption in plan.assumptions}
    assert {"Leptoquark model", "Production mode", "Jet definition", "Object level"} <= topics


def test_leptoquark_workflow_needs_the_mass(tmp_path: Path) -> None:
    data = yaml.safe_load(LEPTOQUARK_S1.read_text())
    del data["process"]["mass_gev"]
    path = tmp_path / "lq.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserInputError, match=r"needs mass_gev \(S₁ mass \(required\).*add e.g. mass_gev: 1000"):
        load_workflow(path)


def test_mass_gev_is_refused_for_a_process_without_a_new_particle(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "workflows" / "drell_yan.yaml").read_text())
    data["process"]["mass_gev"] = 500
    path = tmp_path / "dy.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserInputError, match=r"takes no mass_gev; its parameters: mass_min_gev; remove mass_gev"):
        load_workflow(path)
