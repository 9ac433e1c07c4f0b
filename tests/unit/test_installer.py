"""The model-driven installer with scripted model turns: the plan's packages and programs are looked up without a
model call, and the model may not call a sandbox ready while one of them is missing. And the environment tool finds
programs as the tools do."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage

from madagents.agents.install_agent import check_with_model
from madagents.agents.planner import plan_workflow
from madagents.context import RunContext
from madagents.rundir import RunDir
from madagents.sandbox import LocalSandbox
from madagents.settings import Settings
from madagents.state import Plan, RunState
from madagents.workflow import load_any_workflow, load_workflow
from madagents_tools import environment
from tests.conftest import DRELL_YAN
from tests.replay.scripted import ScriptedClient, call, installer, reply, tool_answers

STEP_DIR = "steps/00-environment"
READY = {"ready": True, "summary": "all there"}


def check(tmp_path: Path, script: Any, plan: Plan | None = None, programs: list[str] | None = None) -> dict[str, Any]:
    plan = plan or plan_workflow(load_workflow(DRELL_YAN))
    rundir = RunDir.create(tmp_path / "run")
    ctx = RunContext(Settings(), rundir, LocalSandbox(rundir.path), ["test"], models=ScriptedClient(script))
    return check_with_model(ctx, RunState(plan=plan), plan, STEP_DIR, programs or [], _fix)


def _fix(missing: list[str]) -> str:
    return f"build it ({missing})"


def test_the_installer_inspects_the_sandbox_without_the_model_which_reports_it_ready(tmp_path: Path) -> None:
    prompts: list[str] = []

    def script(_: str, messages: Sequence[BaseMessage]) -> AIMessage:
        prompts.append(messages[0].text)
        return installer(messages)

    update = check(tmp_path, script, programs=["mg5_aMC"])
    assert "error" not in update
    environment = update["environment"]
    assert environment.ok
    assert environment.versions["pythia8mc"].startswith("8.")
    assert "mg5_aMC" in environment.programs  # the programs the plan's steps call are looked up too
    report = json.loads((tmp_path / "run" / STEP_DIR / "report.json").read_text())
    assert report["ready"]
    assert report["summary"].startswith("every package is there (Pythia8 8.")
    assert (tmp_path / "run" / STEP_DIR / "check-1" / "result.json").is_file()
    (prompt,) = prompts  # one model call: the report; the inspection was fixed by the plan
    assert '"pythia8mc":"8.' in prompt
    trace = (tmp_path / "run" / "trace.jsonl").read_text()
    assert '"event":"plan_fixed","node":"installer","tokens":0' in trace


def test_the_model_may_look_up_more_before_reporting(tmp_path: Path) -> None:
    def curious(_: str, messages: Sequence[BaseMessage]) -> AIMessage:
        answers = tool_answers(messages)
        if not answers:
            return reply(call("inspect_sandbox", {"packages": [], "optional_packages": ["lhapdf"]}))
        return reply(call("report_environment", READY, 1))

    update = check(tmp_path, curious)
    assert "error" not in update, update.get("error")
    assert len(update["tool_calls"]) == 2
    assert "lhapdf" in update["environment"].versions


def test_a_missing_package_cannot_be_reported_ready(tmp_path: Path) -> None:
    plan = plan_workflow(load_workflow(DRELL_YAN))
    plan = plan.model_copy(update={"required_packages": [*plan.required_packages, "no-such-package"]})

    def optimist(_: str, messages: Sequence[BaseMessage]) -> AIMessage:
        answers = tool_answers(messages)
        if not answers:
            return reply(call("report_environment", READY))
        assert "no-such-package is missing: the sandbox is not ready" in answers[-1]
        return installer(messages[:2])  # the scripted installer reports it missing, with the fix

    update = check(tmp_path, optimist, plan)
    assert update["error"].startswith("the installer finds that the local sandbox cannot run this plan")
    assert "pip install no-such-package" in update["error"]
    assert update["environment"].missing == ["no-such-package"]


def test_an_installer_that_never_reports_fails_the_run(tmp_path: Path) -> None:
    update = check(tmp_path, lambda *_: reply(text="Looks fine to me."))
    assert update["error"] == "the installer ended without reporting on the sandbox: Looks fine to me."


def test_programs_are_found_where_the_tools_look_for_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mg5 = tmp_path / "MG5_aMC_v3_5_7"
    (mg5 / "bin").mkdir(parents=True)
    (mg5 / "bin" / "mg5_aMC").write_text("#!/bin/sh\n")
    monkeypatch.setenv("MG5_PATH", str(mg5))
    monkeypatch.setenv("DELPHES_PATH", str(tmp_path / "no-delphes"))
    found = environment.run(environment.Request(packages=[], programs=["mg5_aMC", "DelphesHepMC3", "sh"]))
    assert found.programs["mg5_aMC"] == str(mg5 / "bin" / "mg5_aMC")
    assert found.programs["DelphesHepMC3"] is None
    assert found.programs["sh"] is not None


def test_each_plan_runs_in_the_image_that_holds_what_it_needs() -> None:
    from madagents.agents.installer import plan_image  # noqa: PLC0415

    settings = Settings(image="my/hep", image_full="my/full", image_ml="my/ml")
    workflows = Path(DRELL_YAN).parent
    expected = {
        "drell_yan": ("hep", "my/hep"),
        "drell_yan_detector": ("hep", "my/hep"),  # the parametric detector runs in hep
        "drell_yan_mg5": ("hep-full", "my/full"),
        "drell_yan_delphes": ("hep-full", "my/full"),
        "ml_amplitudes": ("ml", "my/ml"),
    }
    for name, image in expected.items():
        assert plan_image(plan_workflow(load_any_workflow(workflows / f"{name}.yaml")), settings) == image, name
