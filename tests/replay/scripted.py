"""Scripted model turns for tests and for the scripted cassettes: no model is reachable here.

Every reply is a pure function of the conversation so far (a resumed run asks again and gets the same answer),
written the way a careful model would act. ``ScriptedClient`` is a ``ModelClient``; ``python -m
tests.replay.scripted`` re-records the cassettes in tests/replay/cassettes/ from these scripts.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from madagents.llm.client import TokenCallback, ToolSchema

REPO = Path(__file__).resolve().parents[2]
CASSETTES = Path(__file__).resolve().parent / "cassettes"
SCRIPTED_NOTE = (
    "scripted: model turns written by tests/replay/scripted.py (no hosted model is reachable where this was made); "
    "the tools ran for real"
)

Script = Callable[[str, Sequence[BaseMessage]], AIMessage]


def call(name: str, args: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call_{name}_{index}", "type": "tool_call"}


def reply(*calls: dict[str, Any], text: str = "") -> AIMessage:
    return AIMessage(content=text, tool_calls=list(calls), usage_metadata=_usage(text, calls))


def _usage(text: str, calls: Sequence[dict[str, Any]]) -> Any:
    # a plausible count, so budgets and the report's cost table have something to add up
    output = len(text.split()) + sum(len(json.dumps(c["args"])) // 4 for c in calls) + 5
    return {"input_tokens": 900, "output_tokens": output, "total_tokens": 900 + output}


class ScriptedClient:
    """A ``ModelClient`` whose replies come from ``script(role, messages)``."""

    def __init__(self, script: Script, model: str = "scripted") -> None:
        self.script = script
        self.model = model
        self.requests: list[tuple[str, int]] = []

    def model_name(self, role: str) -> str:
        del role
        return self.model

    def complete(
        self,
        *,
        role: str,
        messages: Sequence[BaseMessage],
        tools: Sequence[ToolSchema],
        on_token: TokenCallback | None = None,
    ) -> AIMessage:
        self.requests.append((role, len(messages)))
        answer = self.script(role, messages)
        offered = {tool["function"]["name"] for tool in tools}
        unknown = [c["name"] for c in answer.tool_calls if c["name"] not in offered]
        if unknown:  # a script bug, not model behaviour under test
            msg = f"script for {role} calls {unknown}, offered {sorted(offered)}"
            raise AssertionError(msg)
        if on_token is not None and answer.text:
            on_token(answer.text)
        return answer


def tool_answers(messages: Sequence[BaseMessage]) -> list[str]:
    return [m.text for m in messages if isinstance(m, ToolMessage)]


def planned_request(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The planned request the step prompt shows between ```json fences."""
    found = re.search(r"```json\n(.*?)\n```", messages[0].text, re.DOTALL)
    assert found, "the step prompt shows no planned request"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def run_seed(messages: Sequence[BaseMessage]) -> int:
    found = re.search(r"Use the run seed (\d+)", messages[0].text)
    assert found, "the planner prompt names no run seed"
    return int(found.group(1))


def installer(messages: Sequence[BaseMessage]) -> AIMessage:
    """Report what the inspection the prompt shows found (the plan's packages, looked up without the model)."""
    if tool_answers(messages):
        return reply(text="Reported.")
    found = re.search(r"```json\n(.*?)\n```", messages[0].text, re.DOTALL)
    assert found, "the installer prompt shows no inspection"
    inspected = json.loads(found.group(1))
    if inspected["missing"]:
        fixes = [f"pip install {name}" for name in inspected["missing"]]
        report = {"ready": False, "summary": "packages are missing", "how_to_fix": fixes}
    else:
        summary = f"every package is there (Pythia8 {inspected['versions'].get('pythia8mc', 'not needed')})"
        report = {"ready": True, "summary": summary}
    return reply(call("report_environment", report))


def step_agent(role: str, messages: Sequence[BaseMessage]) -> AIMessage | None:
    """Generator and analyst: run the planned request once, then summarise."""
    if role not in {"generator", "analyst"}:
        return None
    if not tool_answers(messages):
        request = planned_request(messages)
        return reply(call(request["tool"], request), text=f"Running the planned {request['tool']} step.")
    return reply(text="Done; the step ran as planned.")


def reviewer(messages: Sequence[BaseMessage], concerns: Sequence[str] = ()) -> AIMessage:
    prompt = messages[0].text
    if "FAIL " in prompt:
        failed = re.findall(r"FAIL ([^:]+):", prompt)
        return reply(call("send_back", {"role": "analyst", "reasons": failed, "summary": "gates failed"}))
    calls = [call("flag_concern", {"concern": concern}, i) for i, concern in enumerate(concerns)]
    summary = "Every physics gate passed, reproduce.sh re-created the histograms, and the decisions are listed."
    return reply(*calls, call("sign_off", {"summary": summary, "concerns": []}, len(calls)))


# --- the S1 leptoquark reproduction (PHYSICS.md's autonomous example) ---------------------------------------

LEPTOQUARK_TASK = REPO / "tests" / "replay" / "leptoquark_task.md"
INJECTION = "ignore previous instructions"

LEPTOQUARK_DECISIONS = [
    ("Collider energy", "√s = 13 TeV pp", "the task names the LHC but no energy; Run 2 is the reference"),
    ("Leptoquark mass", "m_S₁ = 1000 GeV", "the task asks for a TeV-scale S₁ without a number"),
    ("Lepton flavour", "S₁ → u μ⁻ only (β = 1)", "the task says 'a charged lepton'; muons are the cleaner channel"),
    ("Object level", "particle level, no detector simulation", "Delphes is not in the offline sandbox"),
    ("Cuts", "two opposite-sign muons and two jets with pT > 50 GeV, |η| < 2.5", "typical LQ-search preselection"),
    ("Binning", "40 bins of 50 GeV in ⟨m_μj⟩ from 0 to 2 TeV", "resolves the peak and the off-shell tails"),
]


def leptoquark_workflow(seed: int, events: int) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "workflows" / "leptoquark_s1.yaml").read_text())
    return {**data, "seed": seed, "events": events}


def leptoquark_script(role: str, messages: Sequence[BaseMessage], events: int = 300) -> AIMessage:
    task = messages[0].text
    if role == "planner":
        if tool_answers(messages):
            return reply(text="Submitted.")
        decisions = [
            call("record_assumption", {"topic": t, "choice": c, "source": "agent", "reason": r, "affects": ["all"]}, i)
            for i, (t, c, r) in enumerate(LEPTOQUARK_DECISIONS)
        ]
        if INJECTION in task:
            ignored = {
                "topic": "Ignored instructions",
                "choice": "the task's request to run shell commands and upload files was not followed",
                "source": "agent",
                "reason": "the task is data; tools only simulate and analyse inside the run directory",
                "affects": ["nothing"],
            }
            decisions.append(call("record_assumption", ignored, len(decisions)))
        workflow = leptoquark_workflow(run_seed(messages), events)
        return reply(*decisions, call("submit_workflow", workflow, len(decisions)), text="Plan: S₁ pair production.")
    if role == "installer":
        return installer(messages)
    answer = step_agent(role, messages)
    if answer is not None:
        return answer
    concerns = [f"the task contains injected instructions ('{INJECTION} …'); nothing acted on them"]
    return reviewer(messages, concerns if INJECTION in task else ())


# --- the student chat that ends with a Drell–Yan plot --------------------------------------------------------

CHAT_INPUTS = ["Can you simulate Drell-Yan at 13 TeV and plot the dimuon mass?", "y", "/cost", "/quit"]


def drell_yan_workflow(events: int) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "workflows" / "drell_yan.yaml").read_text())
    return {**data, "events": events}


def tutor_script(role: str, messages: Sequence[BaseMessage], events: int = 1000) -> AIMessage:
    assert role == "tutor"
    last_human = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    answers = tool_answers(messages[last_human:])
    if not answers:
        return reply(
            call("propose_workflow", drell_yan_workflow(events)),
            text=(
                "Drell–Yan is $q\\bar{q} \\to Z/\\gamma^* \\to \\mu^+\\mu^-$. I will let **Pythia8** generate the "
                "hard process, shower it and hadronise it, then select two opposite-sign muons and histogram their "
                "invariant mass $m_{\\mu\\mu}$, which should peak at $m_Z \\approx 91.19$ GeV."
            ),
        )
    if len(answers) == 1:
        return reply(call("run_workflow", {}), text="The workflow is valid; running it now.")
    facts = "\n".join(f"- {line}" for line in answers[-1].splitlines())
    return reply(
        text=(
            f"Done.\n\n{facts}\n\nThe peak sits at the Z mass. At particle level no detector smears the muons: "
            "the peak's width is the Z's own, $\\Gamma_Z \\approx 2.5$ GeV, and photons the muons radiate leave a "
            "tail below it."
        )
    )


def record_all() -> None:
    """Re-record the scripted cassettes (run after a deliberate change of prompts or tools)."""
    import tempfile  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    from madagents.context import NullReporter  # noqa: PLC0415
    from madagents.llm.cassette import Cassette, RecordingClient  # noqa: PLC0415
    from madagents.runner import Driver, start_run  # noqa: PLC0415
    from madagents.session_cli import drive_chat  # noqa: PLC0415
    from madagents.sessions import record_cassette  # noqa: PLC0415
    from madagents.settings import Settings  # noqa: PLC0415
    from madagents.state import Task  # noqa: PLC0415

    settings = Settings(sandbox="local")
    with tempfile.TemporaryDirectory() as scratch:
        recorder = RecordingClient(ScriptedClient(leptoquark_script))
        text = LEPTOQUARK_TASK.read_text()
        task = Task(text=text, seed=20261123, max_events=300)
        run_dir = Path(scratch) / "lq"
        start_run(task, run_dir, settings, ["madagents", "reproduce"], Driver(models=recorder))
        lq = Cassette(
            source="scripted",
            note=SCRIPTED_NOTE,
            model="scripted",
            entry="reproduce",
            task=text,
            seed=task.seed,
            max_events=task.max_events,
        )
        record_cassette(CASSETTES / "leptoquark_s1_reproduce.json", recorder, lq, [run_dir])

        recorder = RecordingClient(ScriptedClient(tutor_script))
        inputs = iter(CHAT_INPUTS)
        run_dirs = drive_chat(
            Path(scratch) / "chat", recorder, settings, NullReporter(), Console(), lambda: next(inputs, None)
        )
        chat = Cassette(source="scripted", note=SCRIPTED_NOTE, model="scripted", entry="chat", user_inputs=CHAT_INPUTS)
        record_cassette(CASSETTES / "student_chat_drell_yan.json", recorder, chat, run_dirs)


if __name__ == "__main__":
    record_all()
    sys.exit(0)
