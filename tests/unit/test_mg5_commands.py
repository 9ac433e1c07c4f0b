"""The MG5 tool's request and the command files it writes: generate and launch scripts, model conversion, the
launch interface's switches, and requests that could inject commands or mislead MG5."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from madagents_tools.generation.mg5_generate import (
    Request,
    generate_commands,
    launch_commands,
)
from tests.mg5_fixtures import drell_yan


def test_command_files_of_a_drell_yan_request() -> None:
    request = drell_yan(
        param_card={"MASS 6": 172.5}, run_card={"ebeam1": 6500, "use_syst": False, "pdlabel": "nn23lo1"}
    )
    assert generate_commands(request) == [
        "set auto_update 0 --no_save",
        "set automatic_html_opening False --no_save",
        "set auto_convert_model True --no_save",
        "import model sm",
        "generate p p > mu+ mu-",
        "output process -f",
    ]
    assert launch_commands(request) == [
        "set auto_update 0 --no_save",
        "set automatic_html_opening False --no_save",
        "set auto_convert_model True --no_save",
        "launch process",
        "shower=OFF",
        "detector=OFF",
        "analysis=OFF",
        "madspin=OFF",
        "reweight=OFF",
        "done",
        "set nevents 200",
        "set iseed 12345",
        "set ebeam1 6500",
        "set use_syst False",
        "set pdlabel nn23lo1",
        "set param_card mass 6 172.5",
        "done",
    ]


def test_definitions_decay_chains_nlo_and_cluster_options() -> None:
    request = Request(
        model="sm-no_b_mass",
        definitions=["l+ = e+ mu+", "l- =   e- mu-"],
        processes=["p p > t t~, (t > b w+, w+ > l+ vl), (t~ > b~ w-, w- > l- vl~) @1", "p p > e+ ve  [QCD]"],
        output_dir="gen/ttbar/process",
        commands_dir="gen/ttbar",
        seed=7,
        n_events=10,
        run_mode=1,
        cluster_type="slurm",
        cluster_queue="short-q.1",
    )
    lines = generate_commands(request)
    assert lines[3:7] == [
        "set run_mode 1 --no_save",
        "set cluster_type slurm --no_save",
        "set cluster_queue short-q.1 --no_save",
        "import model sm-no_b_mass",
    ]
    assert lines[7:] == [
        "define l+ = e+ mu+",
        "define l- = e- mu-",
        "generate p p > t t~, (t > b w+, w+ > l+ vl), (t~ > b~ w-, w- > l- vl~) @1",
        "add process p p > e+ ve [QCD]",
        "output process -f",
    ]
    assert launch_commands(request)[3:7] == [*lines[3:6], "launch process"]
    multicore = drell_yan(run_mode=2, nb_core=4)
    expected = ["set run_mode 2 --no_save", "set nb_core 4 --no_save"]
    assert generate_commands(multicore)[3:5] == launch_commands(multicore)[3:5] == expected


def test_python2_ufo_models_are_converted_unless_turned_off() -> None:
    # MG5 imports a Python-2 UFO (e.g. composite_LQ_UFO, arXiv:1803.05962) only after converting it; with the
    # option off in MG5's configuration it would ask first, and the closed stdin would end the import
    model = "composite_LQ_UFO"
    converted = drell_yan(model=model, processes=["p p > s1b s1b~, s1b > u mu-, s1b~ > u~ mu+"])
    assert generate_commands(converted)[2:4] == ["set auto_convert_model True --no_save", f"import model {model}"]
    assert launch_commands(converted)[2] == "set auto_convert_model True --no_save"
    kept = drell_yan(model=model, auto_convert_model=False)
    assert generate_commands(kept)[2] == launch_commands(kept)[2] == "set auto_convert_model False --no_save"


@pytest.mark.parametrize(
    ("processes", "switches"),
    [
        (["p p > mu+ mu-"], ["shower", "detector", "analysis", "madspin", "reweight"]),
        (["g g > h [noborn=QCD]"], ["shower", "detector", "analysis", "madspin", "reweight"]),  # MadEvent too
        (["p p > e+ ve [QCD]"], ["fixed_order", "shower", "madspin", "reweight", "madanalysis"]),
        (["p p > mu+ mu-", "p p > e+ e- [QCD]"], ["fixed_order", "shower", "madspin", "reweight", "madanalysis"]),
    ],
)
def test_launch_answers_the_switches_of_its_interface(processes: list[str], switches: list[str]) -> None:
    # a switch the question lacks would end it early: MG5 would run with its defaults (aMC@NLO: HERWIG6 shower)
    lines = launch_commands(drell_yan(processes=processes, run_card={}))
    assert lines[4 : lines.index("done")] == [f"{name}=OFF" for name in switches]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"processes": ["p p > mu+ mu-\nshell rm -rf ~"]}, r"spans several lines"),
        ({"processes": ["p p > mu+ mu-; shell ls"]}, r"contains ';'"),
        ({"processes": ["p p > mu+ mu- `ls`"]}, r"process 'p p > mu\+ mu- `ls`' is not allowed \(found '`'\)"),
        ({"processes": ["p p > mu+ mu- # comment"]}, r"found '#'"),
        ({"processes": []}, r"at least 1 item"),
        ({"processes": ["  "]}, r"process is empty"),
        ({"definitions": ["l+ = e+ mu+\ngenerate e+ e- > z"]}, r"spans several lines"),
        ({"definitions": ["define l+ e+ mu+"]}, r"definition 'define l\+ e\+ mu\+' is not allowed: '<label> = <p"),
        ({"definitions": ["l+ = e+ | mu+"]}, r"is not allowed \(found '\|'\)"),
        ({"model": "sm\nshell ls"}, r"spans several lines"),
        ({"model": "/abs/models/sm"}, r"UFO model name"),
        ({"run_card": {"mmll\nshell": 60}}, r"run_card key .* spans several lines"),
        ({"run_card": {"mm ll": 60}}, r"run_card key 'mm ll' is not allowed"),
        ({"run_card": {"pdlabel": "nn23lo1; shell ls"}}, r"contains ';'"),
        ({"run_card": {"pdlabel": "$(ls)"}}, r"run_card value of pdlabel"),
        ({"run_card": {"mmll": math.inf}}, r"not a finite number"),
        ({"run_card": {"nevents": 100}}, r"'nevents' is set by the request field 'n_events'"),
        ({"run_card": {"ISEED": 3}}, r"'iseed' is set by the request field 'seed'"),
        ({"param_card": {"mass 6\nshell": 1.0}}, r"spans several lines"),
        ({"param_card": {"mt": 172.5}}, r"'BLOCK ID\.\.\.'"),
        ({"param_card": {"mass 6": math.nan}}, r"not a finite number"),
        ({"cluster_queue": "q; rm"}, r"contains ';'"),
        ({"cluster_type": "slurm"}, r"run_mode 1 \(cluster\) only"),
        ({"run_mode": 1, "cluster_type": "torque"}, r"cluster_type"),
        ({"output_dir": "."}, r"names the run directory itself"),
        ({"output_dir": "../elsewhere"}, r"must be relative to the run directory"),
        ({"output_dir": "mg5 process"}, r"path 'mg5 process' is not allowed"),
        ({"commands_dir": "mg5/process/cmd"}, r"commands_dir mg5/process/cmd is inside output_dir mg5/process"),
        ({"lhe_path": "mg5/process/events.lhe"}, r"lhe_path .* is inside output_dir"),
        ({"seed": 0}, r"greater than or equal to 1"),
        ({"seed": 30081 * 30081 + 1}, r"less than or equal to 904866561"),
        ({"shower": "pythia8"}, r"shower"),
        ({"mg5_path": "mg5"}, r"Extra inputs are not permitted"),
    ],
)
def test_requests_that_could_inject_or_mislead_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        drell_yan(**changes)
