from __future__ import annotations

from pathlib import Path

import pytest

from madagents.errors import UserInputError
from madagents.workflow import load_any_workflow, load_workflow
from tests.conftest import DRELL_YAN, WorkflowWriter


def test_shipped_drell_yan_matches_physics_reference() -> None:
    workflow = load_workflow(DRELL_YAN)
    assert workflow.beams.sqrt_s_gev == 13000
    assert set(workflow.process.pdg_ids()) == {13, -13}
    assert workflow.process.mass_min_gev == 60
    assert workflow.events == 10000
    muons = workflow.analysis.objects["muons"]
    assert (muons.pt_min_gev, muons.abs_eta_max) == (25, 2.5)
    (histogram,) = workflow.analysis.histograms
    assert histogram.range == (60, 120)


def test_overrides_replace_events_and_seed() -> None:
    workflow = load_workflow(DRELL_YAN, events=123, seed=7)
    assert (workflow.events, workflow.seed) == (123, 7)


def test_override_is_validated_like_the_file() -> None:
    with pytest.raises(UserInputError, match=r"events: Input should be greater than 0 \(you wrote 0\)"):
        load_workflow(DRELL_YAN, events=0)


def test_missing_file_names_the_shipped_workflows(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"not found; give the path of a workflow YAML"):
        load_workflow(tmp_path / "nope.yaml")


def test_malformed_yaml_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nbeams:\n  sqrt_s_gev: [13000\nevents: 3\n")
    with pytest.raises(UserInputError, match=r"is not valid YAML at line \d+, column \d+"):
        load_workflow(path)


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(UserInputError, match="must be a YAML mapping"):
        load_workflow(path)


def test_unknown_key_suggests_the_right_one(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(evnts=100)
    with pytest.raises(UserInputError, match=r"unknown key 'evnts' \(did you mean 'events'\?"):
        load_workflow(path)


def test_unknown_nested_key(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(beams={"sqrt_s_gev": 13000, "energy": 6500})
    with pytest.raises(UserInputError, match=r"unknown key 'beams.energy'.*allowed keys here: particles, sqrt_s_gev"):
        load_workflow(path)


@pytest.mark.parametrize("events", [0, -5])
def test_non_positive_events(write_workflow: WorkflowWriter, events: int) -> None:
    with pytest.raises(
        UserInputError,
        match=rf"events: Input should be greater than 0 \(you wrote {events}\); "
        r"write e.g. events: 10000",
    ):
        load_workflow(write_workflow(events=events))


def test_zero_energy(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(beams={"particles": ["p", "p"], "sqrt_s_gev": 0})
    with pytest.raises(UserInputError, match=r"beams.sqrt_s_gev: .*greater than 0.*write e.g. sqrt_s_gev: 13000"):
        load_workflow(path)


def test_unknown_process(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(process={"name": "drell_yam", "final_state": ["mu+", "mu-"]})
    with pytest.raises(
        UserInputError, match=r"process.name: unknown process 'drell_yam'; did you mean 'drell_yan'\? .*'drell_yan', "
    ):
        load_workflow(path)


def test_unknown_particle(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(process={"name": "drell_yan", "final_state": ["muu+", "mu-"]})
    with pytest.raises(
        UserInputError, match=r"unknown particle 'muu\+'; write a PDG id \(32\), a Pythia8 name \(Z'0, W'\+, h0, mu-\)"
    ):
        load_workflow(path)


def test_particle_the_process_cannot_make(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(process={"name": "drell_yan", "final_state": ["u", "u~"]})
    with pytest.raises(UserInputError, match=r"cannot produce \['u', 'u~'\]; choose one of \[mu\+, mu-\]; \[e\+, e-\]"):
        load_workflow(path)


def test_bad_observable_lists_accepted_forms(write_workflow: WorkflowWriter, drell_yan_data: dict) -> None:
    analysis = drell_yan_data["analysis"]
    analysis["histograms"][0]["observable"] = "invmass(muons[0], muons[1])"
    with pytest.raises(UserInputError, match=r"unknown observable function 'invmass'.*did you mean 'mass'"):
        load_workflow(write_workflow(analysis=analysis))


def test_cut_on_undefined_object(write_workflow: WorkflowWriter, drell_yan_data: dict) -> None:
    analysis = drell_yan_data["analysis"]
    analysis["cuts"].append({"count": "electrons", "min": 1})
    with pytest.raises(UserInputError, match=r"undefined objects 'electrons'; define it under analysis\.objects"):
        load_workflow(write_workflow(analysis=analysis))


def test_cut_of_unknown_shape(write_workflow: WorkflowWriter, drell_yan_data: dict) -> None:
    analysis = drell_yan_data["analysis"]
    analysis["cuts"].append({"same_sign": ["muons"]})
    with pytest.raises(UserInputError, match=r"analysis.cuts.2: a cut needs one of the keys count, opposite_charge"):
        load_workflow(write_workflow(analysis=analysis))


def test_peak_check_must_name_a_histogram(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(checks={"peaks": [{"histogram": "m_ee", "particle": "Z0"}]})
    with pytest.raises(UserInputError, match=r"checks.peaks refers to histogram 'm_ee'"):
        load_workflow(path)


def test_generator_setting_without_equals(write_workflow: WorkflowWriter) -> None:
    path = write_workflow(generator={"settings": ["Tune:pp 14"]})
    with pytest.raises(UserInputError, match=r"'Tune:pp 14' is not of the form 'Group:key = value'"):
        load_workflow(path)


@pytest.mark.parametrize(
    ("generator", "message"),
    [
        ({"name": "mg5"}, "generator name mg5 needs the MG5 process"),
        ({"name": "mg5", "mg5": {"processes": ["p p > mu+ mu-; shell rm -rf ~"]}}, "contains ';'"),
        ({"name": "mg5", "mg5": {"processes": ["p p > mu+ mu-"], "run_card": {"iseed": 3}}}, "set by the request"),
        ({"name": "mg5", "mg5": {"processes": ["p p > mu+ mu-"]}, "chunks": 2}, "run_mode/cluster"),
        ({"chunks": 200}, "more than the 100 events"),
    ],
)
def test_generator_mistakes_are_explained(write_workflow: WorkflowWriter, generator: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        load_workflow(write_workflow(generator=generator, events=100))


def test_unknown_detector_card_names_the_shipped_ones(write_workflow: WorkflowWriter) -> None:
    with pytest.raises(UserInputError, match="atlas, cms"):
        load_workflow(write_workflow(detector={"card": "lhcb"}))


def test_every_shipped_workflow_loads() -> None:
    for path in sorted(DRELL_YAN.parent.glob("*.yaml")):
        assert load_any_workflow(path).name == path.stem


def test_a_surrogate_workflow_is_refused_where_events_are_needed() -> None:
    with pytest.raises(UserInputError, match="is a amplitude_surrogate workflow"):
        load_workflow(DRELL_YAN.parent / "ml_amplitudes.yaml")


def _jet_analysis(**jet_options: object) -> dict[str, object]:
    jets = {"collection": "jet", "pt_min_gev": 30, **jet_options}
    histogram = {"name": "n_jets", "observable": "count(jets)", "bins": 5, "range": [0, 5], "label": "N"}
    return {"objects": {"jets": jets}, "histograms": [histogram]}


def test_delphes_refuses_a_particle_level_jet_definition(write_workflow: WorkflowWriter) -> None:
    analysis = _jet_analysis() | {"jets": {"algorithm": "kt", "radius": 0.6}}
    path = write_workflow(detector={"backend": "delphes", "card": "atlas"}, analysis=analysis, checks=None)
    with pytest.raises(UserInputError, match=r"the Delphes card \(atlas\) clusters and b-tags the jets itself"):
        load_workflow(path)


def test_a_jet_definition_applies_under_the_parametric_detector(write_workflow: WorkflowWriter) -> None:
    # the parametric detector smears the particle-level jets, so their definition is honoured
    analysis = _jet_analysis() | {"jets": {"algorithm": "kt", "radius": 0.6}}
    workflow = load_workflow(
        write_workflow(detector={"backend": "parametric", "card": "atlas"}, analysis=analysis, checks=None)
    )
    assert workflow.analysis.jets.radius == 0.6


@pytest.mark.parametrize("backend", ["parametric", "delphes"])
def test_detectors_refuse_c_tags(write_workflow: WorkflowWriter, backend: str) -> None:
    path = write_workflow(
        detector={"backend": backend, "card": "atlas"}, analysis=_jet_analysis(ctag=True), checks=None
    )
    with pytest.raises(UserInputError, match=rf"ctag, a particle-level tag by C hadrons; the {backend} detector"):
        load_workflow(path)


def test_the_parametric_detector_refuses_photons(write_workflow: WorkflowWriter) -> None:
    analysis = _jet_analysis() | {"objects": {"jets": {"collection": "photon", "pt_min_gev": 30}}}
    path = write_workflow(detector={"backend": "parametric", "card": "atlas"}, analysis=analysis, checks=None)
    with pytest.raises(UserInputError, match=r"selects photon objects, which the parametric detector simulation"):
        load_workflow(path)
