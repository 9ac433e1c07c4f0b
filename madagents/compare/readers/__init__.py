"""Readers for the things a run can be compared with; :func:`load_sample` tells them apart by their content."""

from __future__ import annotations

from pathlib import Path

from madagents.compare.sample import Sample
from madagents.errors import UserInputError

__all__ = ["load_sample"]


def load_sample(path: Path) -> Sample:
    """A run directory, a golden directory, a HEPData YAML table (or submission.yaml) or a YODA file.

    Raises:
        UserInputError: the path is none of these, or cannot be read.
    """
    from madagents.compare.readers import hepdata, rundir, yoda  # noqa: PLC0415 - each imports what it needs

    if path.is_dir():
        if (path / rundir.GOLDEN_FILE).is_file():
            return rundir.read_golden(path)
        if (path / "steps").is_dir():
            return rundir.read_run(path)
        msg = (
            f"{path} is a directory but neither a run directory (no steps/) nor a golden directory (no "
            f"{rundir.GOLDEN_FILE}); give a run made by `madagents run` or a golden written by "
            "--madagents-update-golden"
        )
        raise UserInputError(msg)
    if not path.is_file():
        msg = f"{path} does not exist; give a run directory, a golden directory, a HEPData .yaml or a .yoda file"
        raise UserInputError(msg)
    suffix = path.name.lower().removesuffix(".gz")
    if suffix.endswith(".yoda"):
        return yoda.read_yoda(path)
    if suffix.endswith((".yaml", ".yml")):
        return hepdata.read_hepdata(path)
    msg = f"{path}: unknown kind of reference; give a run or golden directory, a HEPData .yaml or a .yoda file"
    raise UserInputError(msg)
