"""``madagents mcp``: the madagents tools served over the Model Context Protocol (stdio) to desktop assistants and
IDE agents.

The same settings, sandbox and budgets as the command line (``MADAGENTS_*``). Runs live under
``MADAGENTS_RUNS_DIR`` and are named there by their directory name; the server writes nowhere else. A run goes on in
a background thread: ``run_workflow`` returns at once and ``run_status`` reports the role and the events done until it
has finished, so no call holds the stdio loop for the minutes a simulation takes.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from madagents import runlock
from madagents.agents.planner import plan_workflow
from madagents.api import prepare
from madagents.compare.compare import compare_runs
from madagents.compare.render import result_text
from madagents.compare.statistics import Mode
from madagents.errors import RunFailedError, UserInputError
from madagents.processes import catalogue_summaries
from madagents.results import RunResult
from madagents.runner import Driver, start_run
from madagents.safe_files import read_bytes, read_text
from madagents.sandbox import SandboxUnavailableError, resolve_backend
from madagents.settings import Settings
from madagents.workflow import AnyWorkflow, Workflow, workflow_from_yaml

__all__ = ["MadagentsTools", "build_server"]

INSTRUCTIONS = (
    "Collider simulations (Pythia8, MadGraph5, Delphes) run in sandboxes from declarative workflows. Check a "
    "workflow with check_workflow, start it with run_workflow, poll run_status until it has finished, then "
    "read_report. Only runs whose status is 'succeeded' passed the physics gates. compare checks a run against "
    "another run or published data (a HEPData table, a YODA file)."
)
MAX_PLOTS = 8
"""Plots read_report sends along with the report; a run with more names them in the text."""


@dataclass(slots=True)
class RunProgress:
    """What a run started by this server is doing now, shown by run_status."""

    node: str | None = None
    events: dict[str, tuple[int, int]] = field(default_factory=dict)
    finished: bool = False
    error: str | None = None

    def node_started(self, node: str) -> None:
        self.node = node

    def node_finished(self, node: str, seconds: float, error: str | None) -> None:
        del node, seconds, error  # the next node_started, or the end of the run, says what happens next

    def progress(self, task: str, done: int, total: int) -> None:
        self.events[task] = (done, total)

    def note(self, text: str) -> None:
        del text  # notes go to the run's trace and report

    def describe(self) -> str:
        done = sum(done for done, _ in self.events.values())
        total = sum(total for _, total in self.events.values())
        events = f", {done}/{total} events generated" if total else ""
        return f"running: {self.node or 'starting'}{events}"


class MadagentsTools:
    """The tools, over one settings object; each method is one MCP tool (its docstring is the description)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runs: dict[str, RunProgress] = {}

    def list_processes(self) -> str:
        """The process catalogue (as `madagents processes`): each process' final states and parameters, and the
        workflow files found in ./workflows. Outside it, a workflow may give Pythia8 switches or MG5 lines."""
        lines = []
        for entry in catalogue_summaries():
            states = "; ".join(" ".join(state) for state in entry.final_states) or "none (MG5 only)"
            params = ", ".join(f"{key}{' (required)' if p.required else ''}" for key, p in entry.parameters.items())
            lines.append(
                f"{entry.name}: {entry.description}; final_state one of: {states}; parameters: {params or 'none'}"
            )
        shipped = sorted(path.as_posix() for path in Path("workflows").glob("*.yaml"))
        lines.append(f"workflow files: {', '.join(shipped) if shipped else 'none in ./workflows'}")
        return "\n".join(lines)

    def check_workflow(self, workflow: str, events: int | None = None, seed: int | None = None) -> str:
        """Validate a workflow and show its plan (steps, image, assumptions) without running anything.

        Args:
            workflow: the path of a workflow YAML file, or the YAML text itself.
            events: override the workflow's number of events.
            seed: override the workflow's run seed.
        """
        spec = self._workflow(workflow, events, seed)
        plan = plan_workflow(spec)
        lines = [f"workflow {spec.name} is valid: {plan.summary}", "steps:"]
        lines += [f"  {step.id}: {step.description}" for step in plan.steps]
        lines.append("assumptions:")
        lines += [f"  {item.topic}: {item.choice} ({item.source.value})" for item in plan.assumptions]
        return "\n".join(lines)

    def run_workflow(self, workflow: str, events: int | None = None, seed: int | None = None) -> str:
        """Start a workflow run in the background and return its name at once; poll run_status with that name.

        Args:
            workflow: the path of a workflow YAML file, or the YAML text itself.
            events: override the workflow's number of events.
            seed: override the workflow's run seed.
        """
        spec = self._workflow(workflow, events, seed)
        try:
            settings = self.settings.model_copy(update={"sandbox": resolve_backend(self.settings.sandbox)})
        except SandboxUnavailableError as exc:
            raise ToolError(str(exc)) from None
        name = f"{spec.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S-%f')}"
        progress = self.runs[name] = RunProgress()
        thread = threading.Thread(target=self._execute, args=(spec, name, settings, progress), name=f"run {name}")
        thread.start()
        size = f", {spec.events} events" if isinstance(spec, Workflow) else ""
        return f"started run {name} ({spec.name}{size}) in {self._dir(name)}; poll run_status with run={name!r}"

    def run_status(self, run: str) -> str:
        """Status of a run (running, succeeded or failed) with σ, events and histograms when it has them.

        Args:
            run: the run's name (as run_workflow returned it), a directory under the runs directory.
        """
        run_dir = self._existing(run)
        progress = self.runs.get(run)
        if progress is not None and not progress.finished:
            return f"run {run}: {progress.describe()}"
        result = _open(run_dir)
        if result.status == "running" and progress is None and runlock.holder(run_dir) is None:
            return (
                f"run {run} was interrupted (status.json says running, but no process drives it); continue it with "
                f"`madagents run --resume {run_dir}`"
            )
        return result.summary()

    def validate_run(self, run: str, reproduce: bool = False) -> str:
        """The reviewer's physics gates on a finished run: its files against provenance.json, every gate, and with
        reproduce=true a re-execution of reproduce.sh in a container (needs Docker).

        Args:
            run: the run's name, a directory under the runs directory.
            reproduce: also re-execute reproduce.sh in a container and compare histograms and σ.
        """
        from madagents.agents.reviewer import review_run_dir  # noqa: PLC0415 - loads the gates
        from madagents.runner import open_context  # noqa: PLC0415

        run_dir = self._existing(run)
        try:
            ctx = open_context(run_dir, self.settings, ["madagents mcp", "validate_run", run], reproduce=reproduce)
        except UserInputError as exc:
            raise ToolError(str(exc)) from None
        verdict = review_run_dir(ctx, reproduce=reproduce)
        lines = [f"{gate.mark} {gate.gate}: {gate.message}" for gate in verdict.gates]
        lines.append(f"gates: {verdict.tally()}" + ("" if verdict.signed_off else ": NOT valid"))
        return "\n".join(lines)

    def compare(self, run: str, reference: str, mode: Mode = "absolute") -> str:
        """A run against a reference, histogram by histogram (χ²/ndf, p-value, largest pull) and σ by σ; the verdict
        is compatible or incompatible, as `madagents compare` decides it.

        Args:
            run: the run's name, a directory under the runs directory.
            reference: another run's name under the runs directory, or the path of a golden directory, a HEPData
                YAML table or a YODA file.
            mode: absolute (σ-normalised), shape (both scaled to unit area) or normalised (to the reference's area).
        """
        run_dir = self._existing(run)
        other = self._dir(reference) if reference and "/" not in reference and self._dir(reference).is_dir() else None
        try:
            result = compare_runs(run_dir, other or Path(reference), mode=mode)
        except UserInputError as exc:
            raise ToolError(str(exc)) from None
        verdict = "compatible" if result.compatible else "INCOMPATIBLE"
        return f"{result_text(result, width=120)}\n{run} is {verdict} with {reference}"

    def read_report(self, run: str) -> list[str | Image]:
        """A finished run's report.md (what was done, σ, gates, assumptions) and its plots as PNG images.

        Args:
            run: the run's name, a directory under the runs directory.
        """
        run_dir = self._existing(run)
        result = _open(run_dir)
        try:
            report = read_text(run_dir, "report.md")
        except (OSError, ValueError):
            msg = f"run {run} has no report yet ({result.status}); see run_status"
            raise ToolError(msg) from None
        names = list(result.plots)[:MAX_PLOTS]
        plots = [Image(data=read_bytes(run_dir, result.plots[name].relative_to(run_dir).as_posix())) for name in names]
        return [report, *plots]

    def _workflow(self, workflow: str, events: int | None, seed: int | None) -> AnyWorkflow:
        try:
            if "\n" in workflow:  # YAML text; a path never holds a newline
                parsed = workflow_from_yaml(workflow, Path("the workflow text"), events=events, seed=seed)
                return prepare(parsed, settings=self.settings)[0]
            return prepare(workflow, events=events, seed=seed, settings=self.settings)[0]
        except UserInputError as exc:
            raise ToolError(str(exc)) from None

    def _execute(self, spec: AnyWorkflow, name: str, settings: Settings, progress: RunProgress) -> None:
        command_line = ["madagents mcp", "run_workflow", spec.name]
        try:
            start_run(spec, self._dir(name), settings, command_line, Driver(reporter=progress))
        except (UserInputError, RunFailedError) as exc:
            progress.error = str(exc)  # status.json holds it too, unless the directory could not be made
        except Exception as exc:  # a bug must not pass silently in a thread: the client and stderr hear of it
            progress.error = f"{type(exc).__name__}: {exc}"
            print(f"run {name} stopped: {progress.error}", file=sys.stderr)
        finally:
            progress.finished = True

    def _dir(self, name: str) -> Path:
        return self.settings.runs_dir / name

    def _existing(self, run: str) -> Path:
        if not run or "/" in run or run in {".", ".."}:
            msg = f"give a run's name (a directory under {self.settings.runs_dir}), not {run!r}"
            raise ToolError(msg)
        progress = self.runs.get(run)
        if progress is not None and progress.error and not (self._dir(run) / "run.json").is_file():
            msg = f"run {run} did not start: {progress.error}"
            raise ToolError(msg)
        if not self._dir(run).is_dir():
            runs = sorted(path.parent.name for path in self.settings.runs_dir.glob("*/run.json"))
            msg = f"no run {run!r} under {self.settings.runs_dir}; runs there: {', '.join(runs) or 'none'}"
            raise ToolError(msg)
        return self._dir(run)


def _open(run_dir: Path) -> RunResult:
    try:
        return RunResult.open(run_dir)
    except UserInputError as exc:
        raise ToolError(str(exc)) from None


def build_server(settings: Settings) -> MCPServer[Any]:
    """The MCP server with every tool of :class:`MadagentsTools`."""
    tools = MadagentsTools(settings)
    server: MCPServer[Any] = MCPServer("madagents", instructions=INSTRUCTIONS, log_level="WARNING")
    for tool in (
        tools.list_processes,
        tools.check_workflow,
        tools.run_workflow,
        tools.run_status,
        tools.validate_run,
        tools.compare,
        tools.read_report,
    ):
        server.add_tool(tool, structured_output=False)
    return server
