"""Run directories and golden directories (a run's histograms and σ, kept as a regression reference)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from madagents.compare.histogram import Binned, CrossSection, from_weights
from madagents.compare.sample import Sample
from madagents.errors import UserInputError
from madagents.run_reads import hist_from_json
from madagents.safe_files import read_bytes, read_text
from madagents_tools.analysis.unbinned import MAX_BYTES, SUFFIX, Unbinned, read_values

__all__ = ["GOLDEN_FILE", "read_golden", "read_run", "write_golden"]

GOLDEN_FILE = "golden.json"
SAMPLES_DIR = "samples"
"""hists/samples/ holds a multi-sample run's further samples, each with its own σ: not the run's own histograms."""


class Normalisation(BaseModel):
    """σ and the generated events of a run: what turns its weighted counts into dσ/dx in pb."""

    model_config = ConfigDict(extra="ignore")

    n_generated: int
    sigma_pb: float
    sigma_err_pb: float
    fiducial_sigma_pb: float | None = None
    fiducial_sigma_err_pb: float | None = None


def read_run(run_dir: Path) -> Sample:
    """Every histogram of ``hists/`` (in pb per x unit) and σ, σ_fid of the run's analysis step."""
    sample = _sample("run", run_dir, _run_normalisation(run_dir))
    if (run_dir / "hists" / SAMPLES_DIR).is_dir():
        sample.notes.append(
            f"{run_dir} has several samples: its own sample is compared (hists/*.json, σ of its analysis); the "
            f"further samples and their plots under hists/{SAMPLES_DIR}/ are not"
        )
    status = _status(run_dir)
    if status != "succeeded":  # a failed gate is often the point of comparing; say so, do not refuse
        sample.notes.append(f"{run_dir} did not succeed ({status}); its histograms are compared as they are")
    return sample


def _status(run_dir: Path) -> str:
    try:
        state = json.loads(read_text(run_dir, "status.json")).get("state")
    except (OSError, ValueError, AttributeError):
        return "no readable status.json"
    return str(state)


def read_golden(golden_dir: Path) -> Sample:
    return _sample("golden", golden_dir, _normalisation(golden_dir, GOLDEN_FILE))


def write_golden(run_dir: Path, golden_dir: Path) -> None:
    """Bless ``run_dir`` (a run or a golden) as the reference: copy its histogram JSON and σ into ``golden_dir``,
    replacing it whole."""
    is_golden = (run_dir / GOLDEN_FILE).is_file()
    read_golden(run_dir) if is_golden else read_run(run_dir)  # refuses what cannot be compared, before writing
    normalisation = _normalisation(run_dir, GOLDEN_FILE) if is_golden else _run_normalisation(run_dir)
    staging = golden_dir.with_name(golden_dir.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "hists").mkdir(parents=True)
    for hist_file in [*_own_histograms(run_dir), *_own_histograms(run_dir, f"*{SUFFIX}")]:
        target = staging / "hists" / hist_file.relative_to(run_dir / "hists")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hist_file, target)
    (staging / GOLDEN_FILE).write_text(normalisation.model_dump_json(indent=1) + "\n")
    shutil.rmtree(golden_dir, ignore_errors=True)
    staging.rename(golden_dir)


def _run_normalisation(run_dir: Path) -> Normalisation:
    results = sorted(run_dir.glob("steps/*-analyze/result.json"))
    if not results:
        msg = (
            f"{run_dir} has no analysis result (steps/*-analyze/result.json): the run did not finish; "
            "compare a run that did"
        )
        raise UserInputError(msg)
    return _normalisation(run_dir, results[0].relative_to(run_dir).as_posix())


def _normalisation(root: Path, relative: str) -> Normalisation:
    try:
        normalisation = Normalisation.model_validate_json(read_text(root, relative))
    except (OSError, ValueError, ValidationError) as exc:
        msg = f"{root / relative} does not give σ and the generated events ({_why(exc)}); is it a madagents run?"
        raise UserInputError(msg) from None
    if normalisation.n_generated <= 0:
        msg = f"{root / relative}: n_generated is {normalisation.n_generated}; the run generated no events"
        raise UserInputError(msg)
    return normalisation


def _sample(source: str, root: Path, normalisation: Normalisation) -> Sample:
    scale = normalisation.sigma_pb / normalisation.n_generated
    histograms, unbinned = {}, {}
    for hist_file in _own_histograms(root):
        relative = hist_file.relative_to(root).as_posix()
        name = hist_file.relative_to(root / "hists").with_suffix("").as_posix()
        histograms[name] = _binned(root, relative, name, scale)
        if (root / "hists" / f"{name}{SUFFIX}").is_file():  # runs made before the values were kept have none
            unbinned[name] = _unbinned(root, f"hists/{name}{SUFFIX}")
    if not histograms:
        msg = f"{root} has no histograms (hists/*.json); nothing to compare"
        raise UserInputError(msg)
    fiducial = None
    if normalisation.fiducial_sigma_pb is not None and normalisation.fiducial_sigma_err_pb is not None:
        fiducial = CrossSection(normalisation.fiducial_sigma_pb, normalisation.fiducial_sigma_err_pb)
    return Sample(
        source="run" if source == "run" else "golden",
        path=str(root),
        histograms=histograms,
        sigma=CrossSection(normalisation.sigma_pb, normalisation.sigma_err_pb),
        fiducial_sigma=fiducial,
        unbinned=unbinned,
    )


def _own_histograms(root: Path, pattern: str = "*.json") -> list[Path]:
    """The histogram files (or their unbinned values, by ``pattern``) of the run's own sample (the ML generator's
    hists/generated/ included)."""
    hists = root / "hists"
    return [path for path in sorted(hists.rglob(pattern)) if path.relative_to(hists).parts[0] != SAMPLES_DIR]


def _binned(root: Path, relative: str, name: str, scale: float) -> Binned:
    try:
        histogram = hist_from_json(read_text(root, relative), relative)
    except (OSError, ValueError) as exc:
        msg = f"{root / relative} cannot be read as a histogram: {_why(exc)}"
        raise UserInputError(msg) from None
    if histogram.ndim != 1:
        msg = f"{root / relative} has {histogram.ndim} axes; only 1D histograms are compared"
        raise UserInputError(msg)
    sumw = np.asarray(histogram.values(), dtype=np.float64)
    variances = histogram.variances()
    sumw2 = sumw if variances is None else np.asarray(variances, dtype=np.float64)
    edges = np.asarray(histogram.axes[0].edges, dtype=np.float64)
    return from_weights(name, edges, sumw, sumw2, scale, "pb")


def _unbinned(root: Path, relative: str) -> Unbinned:
    try:
        return read_values(read_bytes(root, relative, MAX_BYTES))
    except (OSError, ValueError) as exc:
        msg = (
            f"{root / relative} cannot be read as a histogram's unbinned values: {_why(exc)}; remove it to compare "
            "the binned histogram without a KS test"
        )
        raise UserInputError(msg) from None


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(part) for part in first['loc']) or 'the file'}: {first['msg']}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__
