"""madagents serve without a browser: the API, the events of a scripted tutor turn, resuming, files, the token.

The tutor's turns are scripted (tests/replay/scripted.py's client); no run is started here — the browser test in
tests/integration/test_web_browser.py runs one for real.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage, BaseMessage
from typer.testing import CliRunner

from madagents.cli import app as cli
from madagents.settings import Settings
from madagents.web.app import LOOPBACK_NAMES, Server, create_app, is_loopback
from madagents.web.render import to_html
from tests.replay.scripted import ScriptedClient, call, drell_yan_workflow, reply, tool_answers

CASSETTES = Path(__file__).resolve().parent.parent / "replay" / "cassettes"
ANSWER = "The dimuon mass $m_{\\mu\\mu}$ peaks at $m_Z \\approx 91.19$ GeV.\nShall I run it?"


def tutor(role: str, messages: Sequence[BaseMessage]) -> AIMessage:
    if not tool_answers(messages):
        return reply(call("propose_workflow", drell_yan_workflow(1000)), text="Drell–Yan it is.")
    return reply(text=ANSWER)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    made = Server(Settings(sandbox="local", runs_dir=tmp_path / "runs"), lambda: ScriptedClient(tutor))
    yield made
    made.close()


@pytest.fixture
def client(server: Server) -> TestClient:
    return TestClient(create_app(server))


def wait_idle(server: Server, session_id: str) -> list[dict[str, Any]]:
    live = server.sessions[session_id]
    deadline = time.monotonic() + 30
    while live.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live.busy
    return live.log.since(0)


def test_markdown_keeps_maths_for_katex_and_escapes_html() -> None:
    html = to_html("$m_{\\mu\\mu}$ <script>alert(1)</script> costs $5 and $6")
    assert '<span class="math inline">m_{\\mu\\mu}</span>' in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "costs $5 and $6" in html
    assert to_html("a\nb", breaks=True) == "<p>a<br />\nb</p>\n"


def test_a_question_streams_an_answer_with_maths_and_shows_the_tool_call_and_the_plan(
    server: Server, client: TestClient
) -> None:
    assert client.get("/").status_code == 200
    session_id = client.post("/api/sessions").json()["id"]
    assert client.post(f"/api/sessions/{session_id}/say", json={"text": "Drell-Yan please"}).json() == {"ok": True}
    events = wait_idle(server, session_id)
    kinds = [event["type"] for event in events]
    assert kinds[:1] == ["user"]
    tool = next(event for event in events if event["type"] == "tool")
    assert tool["name"] == "propose_workflow"
    assert tool["ok"] is True
    assert '"name": "drell_yan"' in tool["args"]
    answers = [event for event in events if event["type"] == "answer"]
    assert answers[-1]["done"] is True
    assert '<span class="math inline">m_Z \\approx 91.19</span>' in answers[-1]["html"]
    assert "<br />" in answers[-1]["html"]
    panel = next(event for event in events if event["type"] == "panel")
    assert panel["workflow_name"] == "drell_yan"
    assert "μ" in panel["workflow"]  # unicode kept, not escaped
    cost = next(event for event in events if event["type"] == "cost")
    assert cost["tokens"] > 1800  # two scripted turns of 900 input tokens and some output
    sessions = client.get("/api/sessions").json()
    assert [(s["id"], s["open"], s["busy"]) for s in sessions] == [(session_id, True, False)]


def test_a_second_question_while_the_tutor_answers_is_refused(tmp_path: Path) -> None:
    release = threading.Event()

    def slow(role: str, messages: Sequence[BaseMessage]) -> AIMessage:
        release.wait(10)
        return reply(text="done")

    server = Server(Settings(sandbox="local", runs_dir=tmp_path), lambda: ScriptedClient(slow))
    client = TestClient(create_app(server))
    session_id = client.post("/api/sessions").json()["id"]
    assert client.post(f"/api/sessions/{session_id}/say", json={"text": "one"}).status_code == 200
    refused = client.post(f"/api/sessions/{session_id}/say", json={"text": "two"})
    assert refused.status_code == 409
    assert "still answering" in refused.json()["detail"]
    assert client.post(f"/api/sessions/{session_id}/confirm", json={"yes": True}).status_code == 409
    release.set()
    wait_idle(server, session_id)
    server.close()


def test_the_run_question_takes_one_answer(server: Server, client: TestClient) -> None:
    session_id = client.post("/api/sessions").json()["id"]
    live = server.sessions[session_id]
    answers: list[bool] = []
    asking = threading.Thread(target=lambda: answers.append(live.chat.context.confirm("Generate 1000 events?")))
    asking.start()
    deadline = time.monotonic() + 10
    while not any(e["type"] == "confirm" for e in live.log.since(0)):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client.post(f"/api/sessions/{session_id}/confirm", json={"yes": True}).status_code == 200
    assert client.post(f"/api/sessions/{session_id}/confirm", json={"yes": False}).status_code == 409  # 2nd tab
    asking.join(10)
    assert answers == [True]
    confirm = [e for e in live.log.since(0) if e["type"] == "confirm"]
    assert [(e["question"], e["state"]) for e in confirm] == [("Generate 1000 events?", "yes")]


def test_several_sessions_answer_at_once(tmp_path: Path) -> None:
    both_asked = threading.Barrier(2, timeout=10)  # each turn waits until the other session's turn has started

    def meeting(role: str, messages: Sequence[BaseMessage]) -> AIMessage:
        both_asked.wait()
        return reply(text="done")

    server = Server(Settings(sandbox="local", runs_dir=tmp_path), lambda: ScriptedClient(meeting))
    client = TestClient(create_app(server))
    sessions = [client.post("/api/sessions").json()["id"] for _ in range(2)]
    for session_id in sessions:
        assert client.post(f"/api/sessions/{session_id}/say", json={"text": "hello"}).status_code == 200
    for session_id in sessions:
        events = wait_idle(server, session_id)
        assert not [e for e in events if e["type"] == "error"]
        assert any(e["type"] == "answer" and "done" in e["html"] for e in events)
    server.close()


def test_a_session_reopens_with_its_conversation_and_is_held_by_one_server(
    server: Server, client: TestClient, tmp_path: Path
) -> None:
    session_id = client.post("/api/sessions").json()["id"]
    client.post(f"/api/sessions/{session_id}/say", json={"text": "Drell-Yan please"})
    wait_idle(server, session_id)
    other = Server(server.settings, lambda: ScriptedClient(tutor))
    held = TestClient(create_app(other)).post(f"/api/sessions/{session_id}/open")
    assert held.status_code == 409
    assert "in use by" in held.json()["detail"]
    server.close()  # the first server lets go, as when it stops
    assert TestClient(create_app(other)).post(f"/api/sessions/{session_id}/open").status_code == 200
    events = other.sessions[session_id].log.since(0)
    assert [e["text"] for e in events if e["type"] == "user"] == ["Drell-Yan please"]
    assert any(e["type"] == "tool" and e["name"] == "propose_workflow" and e["ok"] for e in events)
    assert any(e["type"] == "answer" and "91.19" in e["html"] for e in events)
    other.close()


def test_files_outside_the_session_links_and_hidden_files_are_not_served(
    server: Server, client: TestClient, tmp_path: Path
) -> None:
    session_id = client.post("/api/sessions").json()["id"]
    session = server.settings.runs_dir / session_id
    (tmp_path / "secret.txt").write_text("secret")
    run = session / "runs" / "01-x"
    run.mkdir(parents=True)
    (run / "report.md").write_text("# report\n![plot](hists/m.png) $\\sigma$")
    (run / "status.json").write_text('{"state": "succeeded"}')
    (run / "run.json").write_text("{}")
    os.symlink(tmp_path / "secret.txt", run / "link.txt")
    assert client.get(f"/files/{session_id}/runs/01-x/report.md").text.startswith("# report")
    for path in [
        "runs/01-x/link.txt",
        "runs/01-x/..%2F..%2F..%2Fsecret.txt",
        "..%2Fsecret.txt",
        "%2Fetc%2Fpasswd",
        ".madagents.lock",
        "runs/01-x/missing",
    ]:
        assert client.get(f"/files/{session_id}/{path}").status_code == 404, path
    assert client.get("/files/..%2F..%2Fetc/passwd").status_code == 404
    assert client.post("/api/sessions/..%2F..%2Fetc/open").status_code == 404
    details = client.get(f"/api/sessions/{session_id}/runs/runs/01-x").json()
    assert details["state"] == "succeeded"
    assert '<span class="math inline">\\sigma</span>' in details["report"]
    assert [f["path"] for f in details["files"]] == [
        "runs/01-x/report.md",
        "runs/01-x/run.json",
        "runs/01-x/status.json",
    ]
    assert client.get(f"/api/sessions/{session_id}/runs/runs%2F..%2F..").status_code == 404


def test_bound_beyond_localhost_every_request_shows_the_token(tmp_path: Path) -> None:
    server = Server(Settings(runs_dir=tmp_path), lambda: ScriptedClient(tutor), token="s3cret")
    client = TestClient(create_app(server))
    assert client.get("/").status_code == 401
    assert client.get("/api/sessions", headers={"X-Madagents-Token": "wrong"}).status_code == 401
    assert client.get("/api/sessions", headers={"X-Madagents-Token": "s3cret"}).status_code == 200
    entered = client.get("/?token=s3cret", follow_redirects=False)
    assert entered.status_code == 303
    assert entered.headers["location"] == "http://testserver/"
    assert client.get("/api/sessions").status_code == 200  # the cookie set by the printed address
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")


def test_bound_to_localhost_a_page_of_another_host_name_is_refused(tmp_path: Path) -> None:
    server = Server(Settings(runs_dir=tmp_path), lambda: ScriptedClient(tutor), hosts=LOOPBACK_NAMES)
    client = TestClient(create_app(server), base_url="http://127.0.0.1:8000")
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"host": "localhost:8000"}).status_code == 200
    assert client.get("/", headers={"host": "[::1]:8000"}).status_code == 200
    assert client.get("/api/sessions", headers={"host": "rebound.example:8000"}).status_code == 400


def test_serve_explains_bad_options_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MADAGENTS_LLM__BASE_URL", raising=False)
    result = runner.invoke(cli, ["serve", "--replay", str(CASSETTES / "leptoquark_s1_reproduce.json")])
    assert result.exit_code == 2
    assert "needs a chat cassette" in result.output
    result = runner.invoke(cli, ["serve", "--replay", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert "cannot read cassette" in result.output
    result = runner.invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "no API key" in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chat = str(CASSETTES / "student_chat_drell_yan.json")
        result = runner.invoke(cli, ["serve", "--port", str(port), "--replay", chat])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
