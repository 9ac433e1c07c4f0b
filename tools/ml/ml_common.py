"""Shared pieces of the machine-learning tools: training loop, scalers, plots, and the two-object event features.

The tools (``amplitude_surrogate``, ``cfm_generator``, ``classifier_test``) import torch inside their functions, so
their request and result models import without it; a sandbox without the ``ml`` extra gets ``Result(ok=False)``
saying what to install.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel, Field

from madagents_tools.contract import FileKind, FileRecord, StrictModel, atomic_path, record_file, report_progress

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]

__all__ = [
    "ML_PACKAGES",
    "MODEL_KIND",
    "MLInputError",
    "PlotRecord",
    "Scaler",
    "TrainingHistory",
    "TrainingOptions",
    "incoming",
    "minkowski_products",
    "mlp",
    "phase_space",
    "plot_files",
    "rambo",
    "require_torch",
    "seed_everything",
    "train",
    "wasserstein_1d",
    "write_comparison",
]

ML_PACKAGES = ("torch", "numpy")
MODEL_KIND: FileKind = "text"
"""Kind recorded for ``.pt`` model files: the contract has no 'model' kind yet (one place to change when it has)."""
INSTALL_HINT = "install the ml extra (pip install 'madagents[ml]': torch==2.13.0 CPU, ufoamp, ufo-sm)"


class MLInputError(Exception):
    """A problem the caller can fix (missing package, bad input file); tools report it as ``Result(ok=False)``."""


class TrainingOptions(StrictModel):
    """Network size and optimiser settings (AdamW with a one-cycle learning-rate schedule)."""

    epochs: int = Field(gt=0, le=100_000, description="Passes over the training set.")
    batch_size: int = Field(default=256, gt=0, description="Examples per gradient step.")
    learning_rate: float = Field(default=2e-3, gt=0.0, le=1.0, description="Peak learning rate of the schedule.")
    width: int = Field(default=128, gt=0, le=4096, description="Units per hidden layer.")
    depth: int = Field(default=3, ge=1, le=16, description="Hidden layers.")


class PlotRecord(BaseModel):
    """A written comparison histogram: one UHI JSON (observable axis × dataset category) and one PNG."""

    name: str
    json_path: str
    png_path: str
    xlabel: str
    bins: int
    range: tuple[float, float]
    datasets: list[str] = Field(description="Categories of the histogram's second axis, as in the legend.")
    legend: str = Field(description="Title drawn on the plot (also stored in the PNG metadata).")


@dataclass
class TrainingHistory:
    """Mean loss per epoch on the training set (and on a validation set, when one was given)."""

    train: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    seconds: float = 0.0


def require_torch() -> Any:
    try:
        import torch  # noqa: PLC0415 - optional dependency, imported only when a tool runs
    except ImportError:
        msg = f"torch is not installed in this sandbox; {INSTALL_HINT}"
        raise MLInputError(msg) from None
    return torch


def seed_everything(seed: int, threads: int) -> Any:
    """Seed torch and return a numpy ``Generator`` seeded alike; fix torch's thread count for reproducibility."""
    import numpy as np  # noqa: PLC0415

    torch = require_torch()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    return np.random.default_rng(seed)


@dataclass
class Scaler:
    """Per-column standardisation (x - mean) / std; constant columns keep std 1."""

    mean: Floats
    std: Floats

    @classmethod
    def fit(cls, values: Floats) -> Scaler:
        import numpy as np  # noqa: PLC0415

        std = values.std(axis=0)
        return cls(mean=values.mean(axis=0), std=np.where(std > 0, std, 1.0))

    def apply(self, values: Floats) -> Floats:
        scaled: Floats = (values - self.mean) / self.std
        return scaled

    def invert(self, values: Floats) -> Floats:
        restored: Floats = values * self.std + self.mean
        return restored

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean.ravel()], "std": [float(v) for v in self.std.ravel()]}


def mlp(n_in: int, n_out: int, options: TrainingOptions) -> Any:
    """A fully connected network with SiLU activations: ``depth`` hidden layers of ``width`` units."""
    torch = require_torch()
    layers: list[Any] = []
    size = n_in
    for _ in range(options.depth):
        layers += [torch.nn.Linear(size, options.width), torch.nn.SiLU()]
        size = options.width
    layers.append(torch.nn.Linear(size, n_out))
    return torch.nn.Sequential(*layers)


def train(
    model: Any,
    loss_fn: Callable[..., Any],
    tensors: Sequence[Any],
    options: TrainingOptions,
    validation: Sequence[Any] | None = None,
) -> TrainingHistory:
    """Minimise ``loss_fn(model, *batch)`` over shuffled mini-batches of ``tensors`` (AdamW, one-cycle schedule).

    The shuffling draws from torch's global generator, seeded by :func:`seed_everything`, so a seed fixes the
    result. Progress (one line per epoch) goes to stderr for the host.
    """
    torch = require_torch()
    n_examples = len(tensors[0])
    steps_per_epoch = max(1, n_examples // options.batch_size)
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=options.learning_rate, total_steps=options.epochs * steps_per_epoch, pct_start=0.1
    )
    history = TrainingHistory()
    start = time.perf_counter()
    for epoch in range(options.epochs):
        model.train()
        order = torch.randperm(n_examples)
        total = 0.0
        for step in range(steps_per_epoch):
            chosen = order[step * options.batch_size : (step + 1) * options.batch_size]
            loss = loss_fn(model, *(tensor[chosen] for tensor in tensors))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
        history.train.append(total / steps_per_epoch)
        if validation is not None:
            model.eval()
            with torch.no_grad():
                history.validation.append(float(loss_fn(model, *validation)))
        report_progress(epoch + 1, options.epochs)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def wasserstein_1d(first: Floats, second: Floats) -> float:
    """Earth mover's distance between two 1D samples, from their quantile functions on a common grid."""
    import numpy as np  # noqa: PLC0415

    levels = np.linspace(0.0, 1.0, 1001)[1:-1]
    return float(np.mean(np.abs(np.quantile(first, levels) - np.quantile(second, levels))))


def write_comparison(
    out_dir: Path,
    name: str,
    xlabel: str,
    binning: tuple[int, float, float],
    datasets: dict[str, tuple[Floats, Floats | None]],
    legend: str,
) -> PlotRecord:
    """Histogram each dataset (values, weights) on one axis; write the UHI JSON and a PNG of the unit-area shapes.

    The JSON keeps the weighted counts (observable axis first, dataset category second, read back with
    ``hist.Hist``); the PNG shows each dataset normalised to unit area, so samples of different size compare.
    """
    import hist  # noqa: PLC0415
    import hist.serialization  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import uhi.io.json  # noqa: PLC0415

    bins, low, high = binning
    labels = list(datasets)
    histogram = hist.Hist(
        hist.axis.Regular(bins, low, high, name=name, label=xlabel),
        hist.axis.StrCategory(labels, name="dataset"),
        storage=hist.storage.Weight(),
    )
    for label, (values, weights) in datasets.items():
        histogram.fill(values, dataset=label, weight=np.ones(len(values)) if weights is None else weights)
    json_path, png_path = (out_dir / f"{name}.{suffix}" for suffix in ("json", "png"))
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(hist.serialization.to_uhi(histogram), default=uhi.io.json.default))
    record = PlotRecord(
        name=name,
        json_path=str(json_path),
        png_path=str(png_path),
        xlabel=xlabel,
        bins=bins,
        range=(low, high),
        datasets=labels,
        legend=legend,
    )
    _plot_comparison(histogram, record)
    return record


def _plot_comparison(histogram: Any, record: PlotRecord) -> None:
    import matplotlib.style  # noqa: PLC0415
    import mplhep  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415 - no pyplot: no global figure state

    shown = record.model_dump(include={"legend", "bins", "range", "xlabel", "datasets"})
    # name and digest of the JSON file drawn here, so that a reviewer can tell a swapped picture from its data
    shown |= {
        "histogram": record.name,
        "histogram_sha256": hashlib.sha256(Path(record.json_path).read_bytes()).hexdigest(),
    }
    with matplotlib.style.context(mplhep.style.CMS):
        figure = Figure()
        axes = figure.subplots()
        for label in record.datasets:
            part = histogram[:, label]
            total = float(part.sum().value)
            scale = 1.0 / total if total > 0 else 1.0
            errors = np.sqrt(part.variances()) * scale
            mplhep.histplot(part.values() * scale, part.axes[0].edges, ax=axes, yerr=errors, label=label)
        axes.set(xlabel=record.xlabel, ylabel="Fraction / bin", xlim=record.range)
        axes.set_ylim(bottom=0.0, top=axes.get_ylim()[1] * 1.3)
        axes.legend(loc="upper right", fontsize="small", title=record.legend, title_fontsize="small")
        with atomic_path(record.png_path) as tmp:
            figure.savefig(tmp, format="png", bbox_inches="tight", metadata={"Description": json.dumps(shown)})


def plot_files(records: Sequence[PlotRecord]) -> list[FileRecord]:
    return [
        file
        for record in records
        for file in (record_file(record.json_path, "hist-json"), record_file(record.png_path, "png"))
    ]


# Phase space of the amplitude surrogate (and of anything else that needs flat n-body points)


def incoming(sqrt_s: Floats) -> Floats:
    """Two massless partons along ±z sharing √ŝ, shape (N, 2, 4)."""
    import numpy as np  # noqa: PLC0415

    half = sqrt_s[:, None] / 2
    return np.stack([np.hstack([half, 0 * half, 0 * half, sign * half]) for sign in (1, -1)], axis=1)


def rambo(rng: Any, sqrt_s: Floats, masses: Floats) -> Floats:
    """Flat n-body phase space (RAMBO), vectorised over events; massive legs by the standard momentum rescaling."""
    import numpy as np  # noqa: PLC0415

    n_events, n_legs = len(sqrt_s), len(masses)
    random = rng.random((n_events, n_legs, 4))
    cos, azimuth = 2 * random[..., 0] - 1, 2 * np.pi * random[..., 1]
    energy, sin = -np.log(random[..., 2] * random[..., 3]), np.sqrt(1 - cos**2)
    q = np.stack([energy, energy * sin * np.cos(azimuth), energy * sin * np.sin(azimuth), energy * cos], axis=-1)
    total = q.sum(axis=1)
    mass = np.sqrt(total[:, 0] ** 2 - np.sum(total[:, 1:] ** 2, axis=1))
    b, x, gamma = -total[:, 1:] / mass[:, None], sqrt_s / mass, total[:, 0] / mass
    bq = np.einsum("ei,eni->en", b, q[..., 1:])
    p = np.empty_like(q)
    p[..., 0] = x[:, None] * (gamma[:, None] * q[..., 0] + bq)
    a = (1 / (1 + gamma))[:, None] * bq
    p[..., 1:] = x[:, None, None] * (q[..., 1:] + b[:, None, :] * q[..., :1] + a[..., None] * b[:, None, :])
    if not masses.any():
        return p
    squared = np.sum(p[..., 1:] ** 2, axis=-1)
    xi = np.ones(n_events)
    for _ in range(50):  # Newton's method for Σ √(m² + ξ²p²) = √ŝ
        energies = np.sqrt(masses**2 + xi[:, None] ** 2 * squared)
        xi -= (energies.sum(axis=1) - sqrt_s) / np.sum(xi[:, None] * squared / energies, axis=1)
    p[..., 1:] *= xi[:, None, None]
    p[..., 0] = np.sqrt(masses**2 + xi[:, None] ** 2 * squared)
    return p


def minkowski_products(momenta: Floats) -> Floats:
    """2 pᵢ·pⱼ for every pair of legs, (N, legs, legs), metric (+ − − −)."""
    import numpy as np  # noqa: PLC0415

    metric = np.array([1.0, -1.0, -1.0, -1.0])
    products: Floats = 2 * np.einsum("eia,eja,a->eij", momenta, momenta, metric)
    return products


def phase_space(
    n_points: int, sqrt_s: tuple[float, float], masses: list[float], y_min: float, rng: Any
) -> tuple[Floats, float]:
    """``n_points`` momenta (N, legs, 4): two massless partons along the beam, √ŝ uniform in ``sqrt_s``, the final
    legs flat (RAMBO), every pair of massless legs but the incoming one with |2 pᵢ·pⱼ| ≥ y_min ŝ.

    Also returns the share of RAMBO points that passed the cut.
    """
    import numpy as np  # noqa: PLC0415

    if sqrt_s[1] < sqrt_s[0] or sum(masses) >= sqrt_s[0]:
        msg = f"√ŝ range {list(sqrt_s)} GeV must be ordered and above the sum of the final masses {sum(masses)}"
        raise MLInputError(msg)
    massless = np.asarray(masses) == 0
    checked = np.triu(massless[:, None] & massless[None, :], k=1)
    checked[0, 1] = False
    kept, tried, n_kept = [], 0, 0
    while n_kept < n_points and tried < MAX_TRIES_PER_POINT * n_points:
        size = 2 * (n_points - n_kept) + 100
        energies = rng.uniform(*sqrt_s, size)
        momenta = np.concatenate([incoming(energies), rambo(rng, energies, np.asarray(masses[2:]))], axis=1)
        products = minkowski_products(momenta)
        passed = np.all(~checked | (np.abs(products) >= y_min * energies[:, None, None] ** 2), axis=(1, 2))
        kept.append(momenta[passed])
        tried, n_kept = tried + size, n_kept + int(np.count_nonzero(passed))
    if n_kept < n_points:
        msg = f"the y_min = {y_min} cut rejects nearly every point; lower it"
        raise MLInputError(msg)
    return np.concatenate(kept)[:n_points], n_kept / tried


MAX_TRIES_PER_POINT = 1000
