"""The catalogue as package data, processes beyond it, and refusing settings that change the declared process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from madagents.agents.planner import plan_workflow
from madagents.agents.process_plan import PARTICLE_LATEX, pdg_latex
from madagents.cli import app
from madagents.errors import UserInputError
from madagents.processes import CATALOGUE, load_catalogue, render_settings
from madagents.pythia8_names import _COMMON_NAMES, check_setting, particle_id
from madagents.workflow import ProcessSpec, load_workflow
from madagents_tools.generation import pythia8_generate
from tests.conftest import REPO, WorkflowWriter

runner = CliRunner()


def test_processes_json_lists_the_catalogue() -> None:
    result = runner.invoke(app, ["processes", "--json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert len(entries) >= 15
    names = {entry["name"] for entry in entries}
    assert {"drell_yan", "ttbar", "leptoquark_s1", "zprime_ssm", "wprime_ssm", "higgs_ggf", "qcd_dijets"} <= names
    zprime = next(entry for entry in entries if entry["name"] == "zprime_ssm")
    assert zprime["resonances"] == ["Z'0"]
    assert zprime["parameters"]["mass_gev"]["required"] is True
    assert ["mu+", "mu-"] in zprime["final_states"]


def test_processes_table_names_every_entry() -> None:
    result = runner.invoke(app, ["processes"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name in CATALOGUE:
        assert name in result.output


def _pythia() -> Any:
    import pythia8mc  # noqa: PLC0415

    return pythia8mc.Pythia("", False)


@pytest.mark.parametrize("name", [name for name, recipe in CATALOGUE.items() if recipe.pythia8])
def test_every_final_state_renders_settings_pythia8_reads(name: str) -> None:
    recipe = CATALOGUE[name]
    pythia = _pythia()
    required = {key: 1000.0 for key, parameter in recipe.parameters.items() if parameter.required}
    for state in recipe.final_states:
        process = ProcessSpec.model_validate({"name": name, "final_state": list(state.products), **required})
        for line in render_settings(recipe, process.choice()):
            assert pythia.readString(line), f"{name} {state.products}: {line}"


@pytest.mark.parametrize(
    ("name", "pdg"), [("Z'0", 32), ("W'+", 34), ("W'-", -34), ("h", 25), ("H0", 25), ("32", 32), ("mu+", -13)]
)
def test_particles_by_pdg_pythia8_or_mg5_name(name: str, pdg: int) -> None:
    assert particle_id(name) == pdg


def test_a_misspelt_setting_names_the_nearest_pythia8_setting() -> None:
    with pytest.raises(ValueError, match=r"no setting 'HardQCD:alll' \(did you mean 'HardQCD:all'\?\)"):
        check_setting("HardQCD:alll = on")
    with pytest.raises(ValueError, match=r"no property 'm00' \(did you mean 32:m0\?\)"):
        check_setting("32:m00 = 3000")


def test_a_misspelt_generator_setting_exits_2(write_workflow: WorkflowWriter, tmp_path: Path) -> None:
    path = write_workflow(generator={"settings": ["PhaseSpace:mHatMn = 70"]})
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "did you mean 'PhaseSpace:mHatMin'" in " ".join(result.output.split())


def test_settings_that_switch_the_declared_process_off_and_another_on_are_refused(
    write_workflow: WorkflowWriter, tmp_path: Path
) -> None:
    path = write_workflow(generator={"settings": ["WeakSingleBoson:ffbar2gmZ = off", "HardQCD:all = on"]})
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert f"Invalid workflow {path}: generator.settings switch off WeakSingleBoson:ffbar2gmZ" in output
    assert "switch on HardQCD:all, which the declared process does not include" in output
    assert not (tmp_path / "o" / "status.json").exists()


def test_settings_that_only_switch_another_process_on_are_refused(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(generator={"settings": ["HardQCD:all = on"]})
    with pytest.raises(UserInputError, match=r"switch on HardQCD:all"):
        load_workflow(path)


def test_zprime_peak_is_checked_at_the_generated_mass() -> None:
    plan = plan_workflow(load_workflow(REPO / "workflows" / "zprime_ssm_mumu.yaml"))
    (peak,) = plan.expectations.peaks
    assert (peak.particle, peak.mass_gev) == ("Z'0", 3000.0)
    generate = plan.step_request(pythia8_generate.Request)
    assert generate.resonances == [32]
    assert "Zprime:gmZmode = 3" in generate.settings


def test_wprime_reports_the_wprime_decay_table() -> None:
    generate = plan_workflow(load_workflow(REPO / "workflows" / "wprime_enu.yaml")).step_request(
        pythia8_generate.Request
    )
    assert generate.resonances == [34]
    assert {"34:m0 = 3000", "34:onIfAny = 11"} <= set(generate.settings)


WPRIME_BY_SWITCHES = {
    "pythia8": {
        "switches": ["NewGaugeBoson:ffbar2Wprime = on"],
        "particles": [{"particle": "W'+", "mass_gev": 2000, "decays": [["e+", "ve"]]}],
    },
    "produces": ["W'+"],
}


def test_a_process_outside_the_catalogue_by_pythia8_switches(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(process=WPRIME_BY_SWITCHES, checks={"peaks": [{"histogram": "m_mumu", "particle": "W'+"}]})
    plan = plan_workflow(load_workflow(path))
    generate = plan.step_request(pythia8_generate.Request)
    assert {"NewGaugeBoson:ffbar2Wprime = on", "34:m0 = 2000", "34:onMode = off", "34:onIfMatch = -11 12"} <= set(
        generate.settings
    )
    assert generate.resonances == [34]
    (peak,) = plan.expectations.peaks
    assert (peak.particle, peak.mass_gev) == ("W'+", 2000.0)
    label = next(step.request.process_label for step in plan.steps if hasattr(step.request, "process_label"))
    assert label.startswith("Pythia8 NewGaugeBoson:ffbar2Wprime")


def test_a_peak_check_needs_a_resonance_the_process_produces(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(process=WPRIME_BY_SWITCHES)  # drell_yan.yaml's check names the Z0
    with pytest.raises(UserInputError, match=r"particle 'Z0' is not a resonance the process produces \(W'\+\)"):
        load_workflow(path)


def test_a_misspelt_process_switch_is_an_input_error(write_workflow: WorkflowWriter) -> None:
    process = {"pythia8": {"switches": ["NewGaugeBoson:ffbar2Wprim = on"]}, "produces": ["W'+"]}
    path = write_workflow(process=process, checks={})
    with pytest.raises(UserInputError, match=r"did you mean 'NewGaugeBoson:ffbar2Wprime'"):
        load_workflow(path)


def test_required_parameters_and_unknown_ones(write_workflow: WorkflowWriter) -> None:
    with pytest.raises(UserInputError, match=r"process qcd_dijets needs pthat_min_gev"):
        load_workflow(write_workflow(process={"name": "qcd_dijets"}, checks={}))
    with pytest.raises(UserInputError, match=r"process qcd_dijets takes no mass_gev"):
        load_workflow(write_workflow(process={"name": "qcd_dijets", "pthat_min_gev": 500, "mass_gev": 3}, checks={}))


def test_defaults_go_into_the_assumptions_with_their_reason(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(process={"name": "z_jets", "final_state": ["mu+", "mu-"]})
    assumptions = {a.topic: a for a in plan_workflow(load_workflow(path)).assumptions}
    default = assumptions["Process parameter pthat_min_gev"]
    assert default.source == "default"
    assert "diverge" in default.reason


def test_an_mg5_only_entry_says_so(write_workflow: WorkflowWriter) -> None:
    with pytest.raises(UserInputError, match=r"single_top_tw has no Pythia8 matrix element: use generator"):
        load_workflow(write_workflow(process={"name": "single_top_tw"}, checks={}))


def test_the_common_names_shortcut_gives_the_pdg_table_s_ids() -> None:
    from particle import Particle  # noqa: PLC0415 - the slow look-up the shortcut avoids

    assert {name: int(Particle.from_name(name).pdgid) for name in _COMMON_NAMES} == _COMMON_NAMES


def test_catalogue_labels_need_no_pdg_table_and_agree_with_it() -> None:
    labels = load_catalogue().labels
    products = {
        name
        for recipe in CATALOGUE.values()
        for state in recipe.final_states
        if state.latex is None
        for name in state.products
    }
    assert products - set(labels) <= set(PARTICLE_LATEX)
    assert {name: pdg_latex(name) for name in PARTICLE_LATEX} == PARTICLE_LATEX
