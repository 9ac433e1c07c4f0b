"""Compiled MG5 process directories, kept between runs on the host and restored into a run before its MG5 step.

MG5 spends most of a small run generating, writing and compiling the process directory; that directory depends
only on the model, the multiparticle definitions, the processes and the MG5 installation, not on the cards, which
``launch`` applies anew each time (run_card cuts, param_card masses and widths, seed, events). So the key is the
hash of those, and the cards stay free. The cache lives outside any run directory (``MADAGENTS_MG5_CACHE_DIR``,
default ``~/.cache/madagents/mg5``), and the host — never a container — copies into and out of it: the sandbox
boundary stays as it is (a container writes its step and its outputs only). A process directory in the cache was
written by an earlier container of this user; ``MADAGENTS_MG5_CACHE=false`` switches reuse off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from madagents.context import RunContext
from madagents_tools.contract import ToolRequest
from madagents_tools.generation import mg5_generate
from madagents_tools.generation.mg5_models import PROCESS_KEY_FILE

__all__ = ["prepare", "process_key", "store"]

SKIPPED = ("Events", "RunWeb")
"""What a launch leaves at the top of a process directory; with HTML/results.pkl and HTML/run_*, the record of its
runs, it stays out of the cache: the next launch must start as run_01 again."""


def process_key(ctx: RunContext, request: mg5_generate.Request) -> str:
    """Hash of what the compiled process depends on: model (and the user's UFO files), definitions, processes, MG5."""
    model_files = ""
    base = request.model.partition("-")[0]
    if ctx.settings.models_dir is not None and (ctx.settings.models_dir / base).is_dir():
        digest = hashlib.sha256()
        for path in sorted((ctx.settings.models_dir / base).rglob("*")):
            if path.is_file() and not path.is_symlink():
                digest.update(path.relative_to(ctx.settings.models_dir).as_posix().encode() + path.read_bytes())
        model_files = digest.hexdigest()
    identity = {
        "model": request.model,
        "model_files": model_files,
        "definitions": request.definitions,
        "processes": request.processes,
        "auto_convert_model": request.auto_convert_model,
        # the image (its id) or the local MG5: another MG5 writes another process directory
        "installation": ctx.sandbox.describe().split(",")[0] + os.environ.get("MG5_PATH", ""),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def prepare(ctx: RunContext, request: ToolRequest) -> ToolRequest:
    """An MG5 request with its process key, and its process directory restored from the cache when there is one."""
    if not isinstance(request, mg5_generate.Request) or not ctx.settings.mg5_cache:
        return request
    key = process_key(ctx, request)
    cached = ctx.settings.mg5_cache_dir / key
    target = ctx.rundir.file(request.output_dir)
    if (cached / "process").is_dir() and not target.exists():
        shutil.copytree(cached / "process", target, symlinks=True)
        ctx.rundir.file(request.commands_dir).mkdir(parents=True, exist_ok=True)
        ctx.rundir.file(f"{request.commands_dir}/{PROCESS_KEY_FILE}").write_text(key + "\n")
        ctx.reporter.note(f"MG5: the compiled process directory comes from the cache ({cached})")
    return request.model_copy(update={"process_key": key})


def store(ctx: RunContext, request: ToolRequest, ok: bool) -> None:
    """After a successful MG5 step, keep its process directory (without the run's events) for the next run."""
    if not (ok and isinstance(request, mg5_generate.Request) and request.process_key and ctx.settings.mg5_cache):
        return
    cached = ctx.settings.mg5_cache_dir / request.process_key
    source = ctx.rundir.file(request.output_dir)
    if cached.exists() or not source.is_dir() or source.is_symlink():
        return
    partial = cached.with_name(f".{cached.name}.{uuid.uuid4().hex}.part")
    try:
        shutil.copytree(source, partial / "process", symlinks=True, ignore=_launch_outputs(source))
        (partial / "process" / "Events").mkdir(exist_ok=True)
        partial.rename(cached)  # another run may have stored the same key meanwhile: then this copy goes
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(partial)


def _launch_outputs(top: Path) -> Callable[[str, list[str]], set[str]]:
    def ignore(directory: str, names: list[str]) -> set[str]:
        if Path(directory) == top:
            return set(SKIPPED) & set(names)
        if Path(directory) == top / "HTML":
            return {name for name in names if name == "results.pkl" or name.startswith("run_")}
        return set()

    return ignore
