"""Where an MG5 process gets its UFO model, and when a compiled process directory can be used again.

MG5's installation is read-only in the sandbox: a model it does not hold is taken from the user's model directory
(``MADAGENTS_MODELS_DIR``, mounted read-only) and copied into the run directory first, so that MG5 writes its
pickles, and converts a Python-2 UFO to Python 3, in that copy — never in the installation or the user's files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from madagents_tools.generation.mg5_run import Mg5, Mg5Error

if TYPE_CHECKING:
    from madagents_tools.generation.mg5_generate import Request

__all__ = ["MODELS_DIR_ENV", "PROCESS_KEY_FILE", "mark_reusable", "model_to_import", "reusable"]

MODELS_DIR_ENV = "MADAGENTS_MODELS_DIR"
PROCESS_KEY_FILE = "process_key"
"""In ``commands_dir``: the cache key of the process directory in ``output_dir`` (written once it compiled)."""


def _listing(directory: Path) -> str:
    if not directory.is_dir():
        return "nothing"
    names = sorted(path.name for path in directory.iterdir() if (path / "particles.py").is_file())
    return ", ".join(names) or "none"


def model_to_import(mg5: Mg5, request: Request) -> str:
    """The argument of ``import model``: an installed model's name, or the run directory's copy of the user's."""
    base, dash, restriction = request.model.partition("-")
    if (mg5.root / "models" / base).is_dir():
        return request.model
    configured = os.environ.get(MODELS_DIR_ENV)
    if not configured:
        return request.model  # MG5 says what it makes of it (its log is read)
    source = Path(configured) / base
    if not source.is_dir():
        msg = (
            f"model {base!r} not found: MG5's models/ holds {_listing(mg5.root / 'models')}; {configured} "
            f"({MODELS_DIR_ENV}) holds {_listing(Path(configured))}. Put the UFO directory {base}/ into the latter"
        )
        raise Mg5Error(msg)
    target = Path(request.commands_dir) / "models" / base
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=False)  # MG5 converts and pickles in the copy
    if not (target / "particles.py").is_file():
        msg = f"{source} holds no UFO model (no particles.py); a UFO directory is what FeynRules or SARAH writes"
        raise Mg5Error(msg)
    return f"{target.resolve()}{dash}{restriction}"


def reusable(request: Request) -> bool:
    """Whether ``output_dir`` holds the compiled process of this request (the host restored it from its cache)."""
    key_file = Path(request.commands_dir) / PROCESS_KEY_FILE
    return (
        request.process_key is not None
        and key_file.is_file()
        and key_file.read_text().strip() == request.process_key
        and (Path(request.output_dir) / "Cards" / "proc_card_mg5.dat").is_file()
    )


def mark_reusable(request: Request) -> None:
    if request.process_key is not None:
        (Path(request.commands_dir) / PROCESS_KEY_FILE).write_text(request.process_key + "\n")
