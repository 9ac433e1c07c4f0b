"""`madagents serve --replay` in Debian's headless chromium: a student asks, the answer streams in, they press Run.

The model's turns come from the scripted chat cassette; the server, the page, KaTeX, Pythia8 and the analysis are
real. Screenshots go to test-artifacts/web/ (MADAGENTS_TEST_ARTIFACTS overrides it); their paths are printed.
Without chromium and chromium-driver the test is skipped, except in CI (`make browser` installs them as root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from madagents.rundir import RunDir
from tests.conftest import REPO

pytestmark = pytest.mark.slow

CASSETTE = REPO / "tests" / "replay" / "cassettes" / "student_chat_drell_yan.json"
QUESTION = "Can you simulate Drell-Yan at 13 TeV and plot the dimuon mass?"
COUNT_ANSWER_RENDERS = """
window.answerLengths = new Set();
new MutationObserver(() => {
  const answer = document.querySelector(".msg.answer");
  if (answer) window.answerLengths.add(answer.textContent.length);
}).observe(document.getElementById("chat"), {subtree: true, childList: true, characterData: true});
"""
IMAGE_SHOWN = "return [...document.querySelectorAll(arguments[0])].some((img) => img.complete && img.naturalWidth > 0);"


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        message = "no chromium or chromedriver on PATH; `make browser` (as root) installs chromium and chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary, driver


@pytest.fixture(scope="module")
def artifacts() -> Path:
    path = Path(os.environ.get("MADAGENTS_TEST_ARTIFACTS", REPO / "test-artifacts")) / "web"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A real `madagents serve --replay` on a free local port; its address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MADAGENTS_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "madagents", "serve", "--port", str(port), "--replay", str(CASSETTE)]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                urllib.request.urlopen(address + "api/info", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.3)
        yield address
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def browser(chromium: tuple[str, str]) -> Iterator[Any]:
    from selenium import webdriver  # noqa: PLC0415 - a dev dependency, only this test needs it
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = chromium[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromium[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_a_student_asks_sees_the_answer_stream_in_runs_it_and_sees_the_plot(
    served: str, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.common.keys import Keys  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    def shot(name: str) -> None:
        browser.save_screenshot(str(artifacts / name))
        print(f"screenshot: {artifacts / name}")

    browser.get(served)
    question = WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "question"))
    assert question.get_attribute("value") == QUESTION  # the replayed chat's question is ready to send
    assert browser.execute_script("return typeof katex") == "object"  # served with the package, no CDN
    shot("01-page.png")
    browser.execute_script(COUNT_ANSWER_RENDERS)
    question.send_keys(QUESTION, Keys.ENTER)  # typed out as a student would: it replaces the suggestion

    run = WebDriverWait(browser, 120).until(lambda b: b.find_element(By.CSS_SELECTOR, ".confirm button.run"))
    first_answer = browser.find_element(By.CSS_SELECTOR, ".msg.answer")
    assert "hadronise" in first_answer.text
    assert len(browser.execute_script("return [...window.answerLengths]")) > 5  # it grew word by word
    assert first_answer.find_elements(By.CSS_SELECTOR, ".katex")  # $m_{\mu\mu}$ typeset by KaTeX
    tool = browser.find_element(By.CSS_SELECTOR, "details.tool")
    assert tool.text.startswith("propose_workflow — done")
    assert "pilot run" in browser.find_element(By.CSS_SELECTOR, ".confirm").text
    assert "drell_yan" in browser.find_element(By.ID, "plan").text
    shot("02-run-button.png")

    session = browser.execute_script("return session")
    run.click()
    browser.get("about:blank")  # the tab goes away; the run goes on in the server
    deadline = time.monotonic() + 300
    while any(s["busy"] for s in get_json(served + "api/sessions")):
        assert time.monotonic() < deadline, "the run did not finish within 300 s"
        time.sleep(1)

    check_the_reproduction_ran_beside_the_generation(tmp_path / "runs" / session / "runs" / "01-drell_yan")
    browser.get(f"{served}#{session}")
    WebDriverWait(browser, 30).until(lambda b: b.execute_script(IMAGE_SHOWN, "figure.plots img"))
    chat = browser.find_element(By.ID, "chat").text
    assert QUESTION in chat
    assert "physics gates: 7/7 passed" in chat
    assert "→ run" in chat
    assert "succeeded" in browser.find_element(By.ID, "runs").text
    cost = browser.find_element(By.ID, "cost").text
    assert "3,037 tokens" in cost  # the cassette's turns
    tools = re.search(r"≥ ([0-9.]+) s CPU in tools \(([0-9.]+) s wall\)", cost)
    assert tools, cost
    cpu, wall = float(tools.group(1)), float(tools.group(2))
    assert cpu > 0.5  # Pythia8 and the analysis, busy in the sandbox …
    assert wall >= 1  # … and the clock while they ran
    assert "PDF set" in browser.find_element(By.ID, "assumptions").text  # the run's assumptions.yaml
    shot("03-plot.png")

    check_the_run_browser(browser)
    shot("04-run-browser.png")


def check_the_reproduction_ran_beside_the_generation(run_dir: Path) -> None:
    """Once Run was pressed nobody could still decline the generation: the reviewer's check started beside it."""
    started = {e.node: e.time for e in RunDir(run_dir).trace_events() if e.event == "node_start"}
    regenerated = (run_dir / "verify/reproduced/steps/01-generate/request.json").stat().st_mtime
    assert started["generator"] < regenerated < started["analyst"]


def check_the_run_browser(browser: Any) -> None:
    """The run's report with its plot, and its files to download."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    browser.find_element(By.CSS_SELECTOR, "figure.plots button.open-run").click()
    WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "run-browser").is_displayed())
    WebDriverWait(browser, 20).until(lambda b: b.execute_script(IMAGE_SHOWN, "#run-report img"))
    assert "drell_yan — run 01-drell_yan" in browser.find_element(By.ID, "run-report").text
    links = {link.text: link.get_attribute("href") for link in browser.find_elements(By.CSS_SELECTOR, "#run-files a")}
    assert {"reproduce.sh", "report.md", "hists/m_mumu.json"} <= set(links)
    with urllib.request.urlopen(links["reproduce.sh"], timeout=10) as download:
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert download.read().startswith(b"#!")
