"""Generate parton-level events with MadGraph5_aMC@NLO (arXiv:1405.0301), driven strictly non-interactively.

The request becomes two MG5 command files, written where the run keeps them: ``generate.mg5`` (import the model,
define multiparticles, generate the processes, write the process directory) and ``launch.mg5`` (launch with
shower, detector, analysis and MadSpin off, then ``set`` the run- and param-card entries). MG5 runs each with
stdin closed and a deadline. It exits with status 0 after most failures, so success is judged from its log and
its outputs: the banner, the LHE file (read with pylhe) and the cards it records.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator, model_validator

from madagents_tools.contract import (
    OutputDir,
    OutputFile,
    RunPath,
    ToolRequest,
    ToolResult,
    exit_without_teardown,
    package_versions,
    tool_main,
)
from madagents_tools.generation.decays import DecayTable
from madagents_tools.generation.mg5_models import mark_reusable, model_to_import, reusable
from madagents_tools.generation.mg5_output import slha_decay_tables
from madagents_tools.generation.mg5_run import Mg5Error, find_mg5, generate_events

__all__ = [
    "MAX_MG5_SEED",
    "MG5_MISSING",
    "Request",
    "Result",
    "generate_commands",
    "launch_commands",
    "main",
    "run",
]

MG5_MISSING = "MG5 not available in this sandbox — build hep-full or set MG5_PATH"
MAX_MG5_SEED = 30081 * 30081
"""MadEvent's ranmar seeding (Source/ranmar.f) takes ``iseed`` in [0, 30081²]; 0 means 'from the clock'."""
ClusterType = Literal["condor", "pbs", "sge", "lsf", "ge", "slurm", "htcaas", "htcaas2"]
"""The batch systems of MG5's ``madgraph/various/cluster.py`` (``from_name``)."""
RESERVED_RUN_CARD = {"nevents": "n_events", "iseed": "seed"}
LO_SWITCHES = ("shower", "detector", "analysis", "madspin", "reweight")
"""The switches MG5 3.5.7's MadEvent launch asks for, all answered OFF (parton-level events only)."""
NLO_SWITCHES = ("fixed_order", "shower", "madspin", "reweight", "madanalysis")
"""aMC@NLO's switches answered OFF: events (not a fixed-order run), unshowered, no decays or reweighting."""

_PROCESS = re.compile(r"[A-Za-z0-9_~+\-*/$<>=^@,.:()\[\]{} ]+")
_DEFINITION = re.compile(r"[A-Za-z0-9_~+\-]+ *= *[A-Za-z0-9_~+\- ]+")
_MODEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*")
_KEY = re.compile(r"[A-Za-z0-9_]+")
_VALUE = re.compile(r"[A-Za-z0-9_.+\-:,{}\[\] ]+")
_PARAM_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_]*)((?: +[0-9]+)+)")
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_PATH = re.compile(r"[A-Za-z0-9_.\-/]+")


def _one_command(text: str, what: str) -> str:
    """Reject text that could end the MG5 command it is written into and start another one."""
    if "\n" in text or "\r" in text:
        msg = f"{what} {text!r} spans several lines: give one MG5 line per entry"
        raise ValueError(msg)
    if ";" in text:
        msg = f"{what} {text!r} contains ';', which would start another MG5 command"
        raise ValueError(msg)
    if not text.strip():
        msg = f"{what} is empty"
        raise ValueError(msg)
    return " ".join(text.split())


def _matching(text: str, pattern: re.Pattern[str], what: str, allowed: str) -> str:
    text = _one_command(text, what)
    if not pattern.fullmatch(text):
        bad = sorted({char for char in text if not _PROCESS.fullmatch(char)})  # never valid in an MG5 line
        found = f" (found {' '.join(repr(char) for char in bad)})" if bad else ""
        msg = f"{what} {text!r} is not allowed{found}: {allowed}"
        raise ValueError(msg)
    return text


class Request(ToolRequest):
    """An MG5 leading-order (or ``[QCD]``) event generation, from model to unweighted LHE events."""

    tool: Literal["mg5_generate"] = "mg5_generate"
    model: str = Field(
        default="sm", description="UFO model to import, with an optional restriction.", examples=["sm-no_b_mass"]
    )
    definitions: list[str] = Field(
        default_factory=list,
        description="Multiparticle labels, each written as `define <line>` before the processes.",
        examples=[["l+ = e+ mu+", "l- = e- mu-"]],
    )
    processes: list[str] = Field(
        min_length=1,
        description="MG5 process lines: the first is `generate`, the others `add process`. Decay chains, "
        "coupling orders, @N tags and [QCD] are written as in MG5.",
        examples=[["p p > mu+ mu-"], ["p p > t t~, (t > b w+, w+ > e+ ve), (t~ > b~ w-, w- > mu- vm~)"]],
    )
    # not an output of its own: MG5's `output -f` deletes and recreates it, which a mount point would not allow
    output_dir: RunPath = Field(
        default="mg5/process", description="MG5 process directory, inside commands_dir; replaced on each run."
    )
    commands_dir: OutputDir = Field(default="mg5", description="Where the MG5 command files and MG5 logs go.")
    lhe_path: OutputFile = Field(default="events/unweighted_events.lhe", description="The events, gunzipped.")
    run_card: dict[str, str | bool | int | float] = Field(
        default_factory=dict,
        description="run_card.dat entries, each written as `set <name> <value>` (nevents and iseed come from "
        "n_events and seed).",
        examples=[{"ebeam1": 6500, "ebeam2": 6500, "mmll": 60}],
    )
    param_card: dict[str, float] = Field(
        default_factory=dict,
        description="param_card.dat entries keyed 'BLOCK ID...', each written as `set param_card BLOCK ID... value`.",
        examples=[{"mass 6": 172.5, "decay 6": 1.32}],
    )
    seed: int = Field(ge=1, le=MAX_MG5_SEED, description="MadEvent random seed (run card iseed).")
    n_events: int = Field(gt=0, description="Unweighted events to generate (run card nevents).")
    shower: Literal["off"] = Field(default="off", description="Parton level only; shower with pythia8_generate.")
    run_mode: Literal[0, 1, 2] | None = Field(
        default=None, description="MG5 run_mode: 0 one core, 1 batch cluster, 2 multicore; None keeps MG5's."
    )
    nb_core: int | None = Field(default=None, ge=1, description="Cores for run_mode 2 (MG5 nb_core).")
    cluster_type: ClusterType | None = Field(
        default=None, description="Batch system for run_mode 1 (MG5 cluster_type)."
    )
    cluster_queue: str | None = Field(default=None, description="Batch queue for run_mode 1 (MG5 cluster_queue).")
    auto_convert_model: bool = Field(
        default=True,
        description="Let MG5 convert a Python-2 UFO model (most FeynRules output before 2020) to Python 3 in place "
        "when importing it (MG5 auto_convert_model); its models/ directory must then be writable. With False "
        "such a model fails to import.",
    )
    timeout_s: float = Field(default=3600.0, gt=0, description="Wall-time limit for both MG5 steps together.")
    process_key: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Set by the host: the hash of model, processes and MG5 installation. When output_dir holds a "
        "compiled process with this key (restored from the host's cache), generate and output are skipped.",
    )

    @field_validator("model")
    @classmethod
    def _model_name(cls, model: str) -> str:
        return _matching(model, _MODEL, "model", "a UFO model name such as sm or sm-no_b_mass")

    @field_validator("definitions")
    @classmethod
    def _definition_lines(cls, lines: list[str]) -> list[str]:
        allowed = "'<label> = <particles>', e.g. 'l+ = e+ mu+' (the `define` is added by the tool)"
        return [_matching(line, _DEFINITION, "definition", allowed) for line in lines]

    @field_validator("processes")
    @classmethod
    def _process_lines(cls, lines: list[str]) -> list[str]:
        allowed = "particles, '>', ',', '/', '$', '@N', coupling orders, brackets such as [QCD], and spaces"
        return [_matching(line, _PROCESS, "process", allowed) for line in lines]

    @field_validator("run_card")
    @classmethod
    def _run_card_entries(cls, entries: dict[str, str | bool | int | float]) -> dict[str, str | bool | int | float]:
        checked: dict[str, str | bool | int | float] = {}
        for key, value in entries.items():
            name = _matching(key, _KEY, "run_card key", "letters, digits and '_'").lower()
            if name in RESERVED_RUN_CARD:
                msg = f"run_card key {name!r} is set by the request field {RESERVED_RUN_CARD[name]!r}"
                raise ValueError(msg)
            if isinstance(value, float) and not math.isfinite(value):
                msg = f"run_card {name} = {value} is not a finite number"
                raise ValueError(msg)
            allowed = "letters, digits, '_ . + - : , { } [ ]' and spaces"
            checked[name] = (
                _matching(value, _VALUE, f"run_card value of {name}", allowed) if isinstance(value, str) else value
            )
        return checked

    @field_validator("param_card")
    @classmethod
    def _param_card_entries(cls, entries: dict[str, float]) -> dict[str, float]:
        checked = {}
        for key, value in entries.items():
            name = _matching(key, _PARAM_KEY, "param_card key", "'BLOCK ID...', e.g. 'mass 6' or 'decay 23'")
            if not math.isfinite(value):
                msg = f"param_card {name} = {value} is not a finite number"
                raise ValueError(msg)
            checked[name.lower()] = value
        return checked

    @field_validator("cluster_queue")
    @classmethod
    def _queue_name(cls, queue: str | None) -> str | None:
        return None if queue is None else _matching(queue, _NAME, "cluster_queue", "letters, digits, '_ . -'")

    @field_validator("output_dir", "commands_dir", "lhe_path")
    @classmethod
    def _plain_path(cls, path: str) -> str:
        allowed = "letters, digits, '_ . - /' (MG5 reads it from a command line)"
        path = _matching(path, _PATH, "path", allowed)
        if not PurePosixPath(path).parts:
            msg = f"path {path!r} names the run directory itself"
            raise ValueError(msg)
        return path

    @model_validator(mode="after")
    def _consistent(self) -> Request:
        if (self.cluster_type or self.cluster_queue) and self.run_mode != 1:
            msg = "cluster_type and cluster_queue apply to run_mode 1 (cluster) only"
            raise ValueError(msg)
        process = PurePosixPath(self.output_dir)
        for name in ("commands_dir", "lhe_path"):
            path = PurePosixPath(getattr(self, name))
            if path == process or process in path.parents:
                msg = f"{name} {path} is inside output_dir {process}, which MG5 deletes and rewrites on every run"
                raise ValueError(msg)
        if PurePosixPath(self.commands_dir) not in process.parents:
            msg = f"output_dir {process} must lie inside commands_dir {self.commands_dir}, the directory MG5 writes"
            raise ValueError(msg)
        return self


class Result(ToolResult):
    sigma_pb: float | None = Field(default=None, description="Total cross section from the LHE <init> block, pb.")
    sigma_err_pb: float | None = Field(default=None, description="Its MC integration error, pb.")
    n_events: int = Field(default=0, description="Events in the LHE file (read with pylhe).")
    lhe_path: str | None = Field(default=None, description="The gunzipped LHE file, for pythia8_generate.")
    banner_path: str | None = Field(default=None, description="MG5's run banner: every card as used.")
    mg5_version: str | None = None
    proc_card: str = Field(default="", description="The proc card as used (from the banner, comments dropped).")
    run_card: dict[str, str] = Field(default_factory=dict, description="The run card as used: name -> value.")
    decay_tables: list[DecayTable] = Field(
        default_factory=list, description="The param card's decay tables with channels (widths MG5 computed)."
    )
    generate_seconds: float = 0.0
    launch_seconds: float = 0.0
    process_reused: bool = Field(
        default=False, description="The compiled process directory came from the cache: generate and output skipped."
    )


def _value(value: str | bool | float) -> str:
    return str(value) if isinstance(value, bool | str | int) else repr(value)


def _options(request: Request) -> list[str]:
    """MG5 options, set before `output` (saved into the process directory) and again before `launch`."""
    # MG5 would ask before converting a Python-2 model when the option is off in its configuration: answer in advance
    options = [
        "set auto_update 0",
        "set automatic_html_opening False",
        f"set auto_convert_model {request.auto_convert_model}",
    ]
    for name in ("run_mode", "nb_core", "cluster_type", "cluster_queue"):
        if (value := getattr(request, name)) is not None:
            options.append(f"set {name} {value}")
    # without --no_save MG5 writes each option into its installation's configuration, which is read-only
    return [f"{line} --no_save" for line in options]


def _process_dir(request: Request) -> str:
    """The process directory as MG5 sees it: relative to ``commands_dir``, where MG5 runs."""
    return posixpath.relpath(request.output_dir, request.commands_dir)


def generate_commands(request: Request, model: str | None = None) -> list[str]:
    """Lines of ``generate.mg5``: model, multiparticles, processes, output (``-f``: no question if it exists)."""
    lines = [*_options(request), f"import model {model or request.model}"]
    lines += [f"define {line}" for line in request.definitions]
    lines += [f"generate {request.processes[0]}", *(f"add process {line}" for line in request.processes[1:])]
    return [*lines, f"output {_process_dir(request)} -f"]


def launch_commands(request: Request) -> list[str]:
    """Lines of ``launch.mg5``: the answers to launch's two questions (switches, then card edits).

    A switch the question does not list would end it early (MG5 keeps the line for the next question and runs with
    defaults), so the answers follow the interface: MadEvent at LO and for loop-induced ``[noborn=...]``
    processes, aMC@NLO for every other ``[...]`` process.
    """
    nlo = any("[" in line and "noborn" not in line for line in request.processes)
    names = NLO_SWITCHES if nlo else LO_SWITCHES
    switches = [f"{name}=OFF" for name in names]
    settings = {"nevents": request.n_events, "iseed": request.seed, **request.run_card}
    cards = [f"set {name} {_value(value)}" for name, value in settings.items()]
    cards += [f"set param_card {name} {_value(value)}" for name, value in request.param_card.items()]
    return [*_options(request), f"launch {_process_dir(request)}", *switches, "done", *cards, "done"]


def run(request: Request) -> Result:
    versions = package_versions("pylhe")
    try:
        mg5 = find_mg5(os.environ, MG5_MISSING)
        versions["mg5_aMC"] = mg5.version
        reuse = reusable(request)
        if reuse:
            print(
                f"mg5_generate: reusing the compiled process directory {request.output_dir} (cache key "
                f"{request.process_key}): generate, output and compilation skipped",
                flush=True,
            )
        generate = None if reuse else generate_commands(request, model_to_import(mg5, request))
        outcome = generate_events(mg5, request, generate, launch_commands(request))
        mark_reusable(request)
    except Mg5Error as exc:
        return Result(ok=False, error=str(exc), versions=versions, seed=request.seed, files=exc.files)
    return Result(
        ok=True,
        sigma_pb=outcome.sigma.value_pb,
        sigma_err_pb=outcome.sigma.error_pb,
        n_events=outcome.n_events,
        lhe_path=request.lhe_path,
        banner_path=outcome.banner_path,
        mg5_version=outcome.banner.mg5_version,
        proc_card="\n".join(line for line in outcome.banner.proc_card.splitlines() if not line.startswith("#")),
        run_card=outcome.run_card,
        decay_tables=slha_decay_tables(outcome.banner.param_card),
        generate_seconds=outcome.generate_seconds,
        launch_seconds=outcome.launch_seconds,
        process_reused=reuse,
        files=outcome.files,
        warnings=outcome.warnings,
        versions=versions,
        seed=request.seed,
    )


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
