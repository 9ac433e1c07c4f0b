"""Doctored copies of one good tt̄ run: `validate` must find every change, and name it.

Most doctorings are "resealed": provenance.json is rewritten with the new sha256 of every file, as a forger who
knows the format would do, so that the claims gates (not only the integrity check) have to find the change.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from madagents.agents.reviewer import review_run_dir
from madagents.cli import app
from madagents.context import RunContext
from madagents.reproduce import render_reproduce_script, verify_reproduction
from madagents.rundir import Provenance, RunDir
from madagents.runner import start_run
from madagents.sandbox import LocalSandbox
from madagents.settings import Settings
from madagents.state import GateResult, Plan, Verdict, result_type
from madagents.workflow import load_workflow
from madagents_tools.contract import sha256_file
from tests.conftest import REPO

pytestmark = pytest.mark.slow

N_EVENTS, SEED = 400, 1723
GENERATION, ANALYSIS = "steps/01-generate/result.json", "steps/02-analyze/result.json"
runner = CliRunner()


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ttbar") / "run"
    workflow = load_workflow(REPO / "workflows" / "ttbar_emu.yaml", events=N_EVENTS, seed=SEED)
    start_run(workflow, out, Settings(verify_events=200, sandbox="local"), ["madagents", "run", "test"])
    return out


@pytest.fixture
def copy(good_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(good_run, tmp_path / "copy", symlinks=True))


def _edit_json(run: Path, relative: str, edit: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads((run / relative).read_text())
    edit(data)
    (run / relative).write_text(json.dumps(data, indent=2))


def _replace(run: Path, relative: str, old: str, new: str) -> None:
    text = (run / relative).read_text()
    assert old in text, old
    (run / relative).write_text(text.replace(old, new))


def _reseal(run: Path) -> None:
    """Rewrite provenance.json's sha256 of every listed file: the forger covers the tracks."""
    provenance = Provenance.model_validate_json((run / "provenance.json").read_text())
    artifacts = [
        record.model_copy(update={"sha256": sha256_file(run / record.path)})
        for record in provenance.artifacts
        if (run / record.path).is_file()
    ]
    (run / "provenance.json").write_text(provenance.model_copy(update={"artifacts": artifacts}).model_dump_json())


def _validate(run: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", str(run), "--no-reproduce", "--sandbox", "local"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split())


def _review(run: Path, *, reproduce: bool = True) -> Verdict:
    ctx = RunContext(Settings(sandbox="local"), RunDir(run), LocalSandbox(run), ["test"])
    return review_run_dir(ctx, reproduce=reproduce)


def _failed(verdict: Verdict, gate: str) -> GateResult:
    found = [result for result in verdict.gates if result.gate == gate]
    assert found, [result.gate for result in verdict.gates]
    assert not found[0].passed, found[0].message
    return found[0]


def _sigma_text(run: Path) -> tuple[float, float, str]:
    generation = json.loads((run / GENERATION).read_text())
    sigma, error = generation["sigma_pb"], generation["sigma_err_pb"]
    return sigma, error, f"{sigma:.5g} ± {error:.2g} pb"


def test_the_untouched_copy_passes_every_gate_and_the_reproduce_check(copy: Path) -> None:
    verdict = _review(copy)
    assert verdict.signed_off, [gate for gate in verdict.gates if not gate.passed]
    assert {"integrity", "report numbers", "reproduce.sh"} <= {gate.gate for gate in verdict.gates}
    assert _validate(copy)[0] == 0


@pytest.mark.parametrize("reseal", [False, True])
def test_a_line_added_to_reproduce_sh_is_refused_and_not_run(copy: Path, tmp_path: Path, reseal: bool) -> None:
    marker = tmp_path / "marker"
    with (copy / "reproduce.sh").open("a") as script:
        script.write(f"touch {marker}\n")
    if reseal:
        _reseal(copy)
    verdict = _review(copy)
    assert "reproduce.sh is not the script plan.json and provenance.json render to" in (
        _failed(verdict, "integrity").message
    )
    assert "not executed" in _failed(verdict, "reproduce.sh").message
    assert not marker.exists()


def test_a_run_made_before_the_tool_host_was_recorded_is_checked_as_far_as_it_can_be(
    copy: Path, tmp_path: Path
) -> None:
    """Without provenance.json's tool_host the run's reproduce.sh cannot be rendered again to compare: the files are
    still checked, the gate says what it could not check, and the reproduction runs a script rendered from plan.json
    (a line slipped into the run's own script stays unexecuted)."""
    marker = tmp_path / "marker"
    with (copy / "reproduce.sh").open("a") as script:
        script.write(f"touch {marker}\n")
    _reseal(copy)
    _edit_json(copy, "provenance.json", lambda provenance: provenance.pop("tool_host"))
    verdict = _review(copy)
    (integrity,) = [gate for gate in verdict.gates if gate.gate == "integrity"]
    assert (integrity.passed, integrity.inconclusive) == (True, True)
    assert "files match provenance.json's sha256; reproduce.sh cannot be checked" in integrity.message
    assert "changed" not in integrity.message
    (reproduced,) = [gate for gate in verdict.gates if gate.gate == "reproduce.sh"]
    assert reproduced.passed, reproduced.message
    assert reproduced.message.startswith("reproduce.sh rendered from plan.json (run instead of the run's own")
    assert "identical histograms and events from all 400 events" in reproduced.message
    assert not marker.exists()
    assert verdict.signed_off
    code, output = _validate(copy)
    assert code == 0
    assert "? integrity:" in output
    with (copy / "report.md").open("a") as report:  # a changed file is still found
        report.write("\n")
    code, output = _validate(copy)
    assert code == 1
    assert "the run directory was changed after the run: report.md was changed" in output


def test_tripled_sigma_in_the_report_fails_validate(copy: Path) -> None:
    sigma, error, shown = _sigma_text(copy)
    _replace(copy, "report.md", f"| {shown} |", f"| {3 * sigma:.5g} ± {error:.2g} pb |")
    code, output = _validate(copy)
    assert code == 1
    assert "report.md was changed" in output


@pytest.mark.parametrize("reseal", [False, True])
def test_fiducial_sigma_raised_in_the_report_only(copy: Path, reseal: bool) -> None:
    analysis = json.loads((copy / ANALYSIS).read_text())
    shown = f"{analysis['fiducial_sigma_pb']:.5g} ± {analysis['fiducial_sigma_err_pb']:.2g} pb"
    _replace(copy, "report.md", f"| {shown} |", f"| 250 ± {analysis['fiducial_sigma_err_pb']:.2g} pb |")
    if reseal:
        _reseal(copy)
    code, output = _validate(copy)
    assert code == 1
    assert ("report numbers" if reseal else "report.md was changed") in output
    if reseal:
        assert "250 ±" in output


def test_sigma_changed_consistently_in_both_results(copy: Path) -> None:
    sigma, error, shown = _sigma_text(copy)

    def triple(data: dict[str, Any]) -> None:
        for key in ("sigma_pb", "sigma_err_pb", "fiducial_sigma_pb", "fiducial_sigma_err_pb"):
            if data.get(key) is not None:
                data[key] *= 3

    _edit_json(copy, GENERATION, triple)
    _edit_json(copy, ANALYSIS, triple)
    _replace(copy, "report.md", shown, f"{3 * sigma:.5g} ± {3 * error:.2g} pb")
    _reseal(copy)
    verdict = _review(copy)
    assert next(gate for gate in verdict.gates if gate.gate == "integrity").passed
    assert "does not show the generation's σ" in _failed(verdict, "plot m_emu").message
    assert "σ =" in _failed(verdict, "reproduce.sh").message


def test_fifty_thousand_events_claimed_for_a_small_file(copy: Path) -> None:
    def claim(data: dict[str, Any]) -> None:
        data["n_events"] = 50_000
        for record in data["files"]:
            if record.get("n_events") is not None:
                record["n_events"] = 50_000

    _edit_json(copy, GENERATION, claim)
    _edit_json(copy, ANALYSIS, lambda data: data.update(n_generated=50_000))
    _replace(copy, "report.md", f"| events (`01-generate`) | {N_EVENTS} ", "| events (`01-generate`) | 50000 ")
    _reseal(copy)
    code, output = _validate(copy)
    assert code == 1
    assert f"holds {N_EVENTS} events, the step's result claims 50000" in output


def test_swapped_plots(copy: Path) -> None:
    png_e, png_mu = copy / "hists/pt_e.png", copy / "hists/pt_mu.png"
    data_e = png_e.read_bytes()
    png_e.write_bytes(png_mu.read_bytes())
    png_mu.write_bytes(data_e)
    _reseal(copy)
    code, output = _validate(copy)
    assert code == 1
    assert "hists/pt_e.png does not draw hists/pt_e.json: it names histogram 'pt_mu'" in output


def test_peak_edited_in_the_report_or_the_result(copy: Path) -> None:
    text = (copy / "report.md").read_text()
    start = text.index("highest bin at ", text.index("### m_emu"))
    peak = text[start:].split()[3].rstrip(".")
    _replace(copy, "report.md", f"highest bin at {peak}.", "highest bin at 172.50.")
    _reseal(copy)
    assert "report numbers" in _validate(copy)[1]

    _edit_json(copy, ANALYSIS, lambda data: data["histograms"][0].update(peak=172.5))
    _reseal(copy)
    _, output = _validate(copy)
    assert "the result says the highest bin is at 172.5" in output


def test_every_file_is_compared_with_provenance(copy: Path) -> None:
    with (copy / "events/events.root").open("ab") as stream:
        stream.write(b"\n")
    (copy / "hists/pt_e.json").unlink()
    (copy / "hists/extra.json").write_text("{}")
    _, output = _validate(copy)
    for problem in ("events/events.root was changed", "hists/pt_e.json is missing", "hists/extra.json is not listed"):
        assert problem in output


def test_a_result_path_to_dev_zero_fails_within_seconds(copy: Path) -> None:
    _edit_json(copy, GENERATION, lambda data: data["files"][0].update(path="/dev/zero"))
    _reseal(copy)
    start = time.monotonic()
    code, output = _validate(copy)
    assert code == 1
    assert "/dev/zero" in output
    assert time.monotonic() - start < 30  # reading /dev/zero would never end


def test_an_event_file_replaced_by_a_link_to_dev_zero_is_refused(copy: Path) -> None:
    (copy / "events/events.root").unlink()
    (copy / "events/events.root").symlink_to("/dev/zero")
    start = time.monotonic()
    code, output = _validate(copy)
    assert code == 1
    assert "events/events.root is a symbolic link" in output
    assert "symbolic link (events/events.root); refused" in output
    assert time.monotonic() - start < 30


def test_a_failing_step_of_reproduce_sh_is_quoted(copy: Path) -> None:
    plan = Plan.model_validate_json((copy / "plan.json").read_text())
    step = plan.steps[0]
    bad = step.request.model_copy(update={"settings": [*step.request.settings, "Foo:bar = 1"]})
    plan = plan.with_requests({step.id: bad})
    (copy / "reproduce.sh").write_text(render_reproduce_script(plan, "test", LocalSandbox(copy).tool_host()))
    results = {
        item.id: result_type(item.request).model_validate_json((copy / f"steps/{item.id}/result.json").read_text())
        for item in plan.steps
    }
    ctx = RunContext(Settings(sandbox="local"), RunDir(copy), LocalSandbox(copy), ["test"])
    gate = verify_reproduction(ctx, plan, results)
    assert not gate.passed
    assert "reproduce.sh failed at step 01-generate (pythia8_generate): Pythia8 rejected setting 'Foo:bar = 1'" in (
        gate.message
    )


def _doctor_event(path: Path, event: int) -> None:
    """Rewrite the events TTree with the missing pT of one event raised by 1 %: every other byte of physics kept."""
    import awkward as ak  # noqa: PLC0415
    import uproot  # noqa: PLC0415

    from madagents_tools.io.final_state import BRANCHES  # noqa: PLC0415

    with uproot.open(path) as file:
        arrays = file["events"].arrays()
    columns: dict[str, Any] = {}
    for name in BRANCHES:
        parts = {f.removeprefix(f"{name}_"): arrays[f] for f in arrays.fields if f.startswith(f"{name}_")}
        if name in arrays.fields:
            columns[name] = arrays[name]
        elif f"{name}_pt" in arrays.fields:  # a collection, zipped back from its branches
            columns[name] = ak.zip(parts)
    met = columns["met_pt"].to_numpy().copy()
    met[event] *= 1.01
    columns["met_pt"] = met
    with uproot.recreate(path) as out:
        out.mktree("events", {name: BRANCHES[name] for name in columns}).extend(columns)


def test_an_event_changed_inside_the_regenerated_prefix_is_found(copy: Path) -> None:
    _doctor_event(copy / "events/events.root", event=17)
    _reseal(copy)
    verdict = _review(copy)
    assert next(gate for gate in verdict.gates if gate.gate == "integrity").passed
    message = _failed(verdict, "reproduce.sh").message
    assert "step 01-generate: event 17 of events.root differs from the regenerated one in branch met_pt" in message
