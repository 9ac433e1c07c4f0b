"""Train a neural surrogate of a tree-level squared matrix element, with a per-point uncertainty.

Training data come from a real amplitude code: ``ufoamp`` evaluates the spin- and colour-summed |M|² of the process
from the Standard Model UFO of ``ufo-sm``, on phase-space points drawn uniformly (RAMBO, Kleiss, Stirling, Ellis,
Comput. Phys. Commun. 40 (1986) 359) at a fixed or uniformly varied partonic √ŝ, with the two incoming partons
along the beam. Every pair of massless legs (other than the two incoming) must have |2 pᵢ·pⱼ| ≥ y_min ŝ, which
keeps the points away from the soft and collinear singularities as jet cuts do.

The network (an MLP on the pair invariants, or on the momenta) predicts a mean and a log-width for the standardised
log |M|², trained with the heteroscedastic Gaussian negative log-likelihood, optionally as β-NLL (the loss weighted
by the detached σ^{2β}, Seitzer et al., arXiv:2203.09168; β = 0 is the plain NLL), as in the amplitude regression
of Badger et al., arXiv:2206.14831. Reports on held-out points: quantiles of |pred − true| / true, the fraction
within 1 %, and the pull (log pred − log true) / σ_log, which to first order is (pred − true) / σ_pred with
σ_pred = pred · σ_log; a calibrated σ gives pulls of mean 0 and width 1.

Process choice: ``ufoamp`` handles the colour of one external gluon cheaply (u u~ > e+ e- g: about 1 ms per point
on one core) but two cost 50–100 × more (u u~ > z g g: ≈ 60 ms per point, 16 points per second), because the
colour sum grows as 8^(gluons). The default 2 → 3 process is therefore q q̄ → Z/γ* g → e⁺e⁻ g (Drell–Yan plus a
jet, with the γ*/Z interference and the Z peak); ``u u~ > z g g`` works too, with ≈ 60 × less data per minute.
A Lorentz-equivariant backbone (``lgatr`` 2.0) was measured and left out: a 2-block, 8-channel L-GATr took ≈ 1.2 s
per training step of 256 points on one CPU core (≈ 200 × this MLP), so it cannot train in minutes without a GPU.
"""

from __future__ import annotations

import math
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, Field

from madagents_tools.contract import (
    OutputDir,
    ToolRequest,
    ToolResult,
    atomic_path,
    exit_without_teardown,
    package_versions,
    record_file,
    tool_main,
)
from madagents_tools.ml.ml_common import (
    ML_PACKAGES,
    MODEL_KIND,
    MLInputError,
    PlotRecord,
    Scaler,
    TrainingHistory,
    TrainingOptions,
    minkowski_products,
    mlp,
    phase_space,
    plot_files,
    require_torch,
    seed_everything,
    train,
    write_comparison,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]

__all__ = ["Metrics", "Request", "Result", "Surrogate", "leg_masses", "main", "run", "squared_amplitude"]

Features = Literal["invariants", "momenta"]


class Request(ToolRequest):
    """Which amplitude to learn, on which phase space, with which network."""

    tool: Literal["amplitude_surrogate"] = "amplitude_surrogate"
    process: str = Field(
        default="u u~ > e+ e- g",
        description="Process in ufoamp/MadGraph syntax (SM UFO particle names); two massless incoming partons.",
        examples=["u u~ > z g", "u u~ > e+ e- g", "u u~ > z g g"],
    )
    sqrt_s_gev: float = Field(default=500.0, gt=0.0, description="Partonic √ŝ in GeV (lower end with a range).")
    sqrt_s_max_gev: float | None = Field(default=None, gt=0.0, description="If set, √ŝ is uniform up to this.")
    y_min: float = Field(default=0.01, gt=0.0, lt=0.5, description="Cut |2 pᵢ·pⱼ| ≥ y_min ŝ on massless pairs.")
    n_points: int = Field(default=40_000, ge=100, le=10_000_000, description="Phase-space points (train + test).")
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0, description="Held-out share for the metrics.")
    features: Features = Field(
        default="invariants", description="'invariants': log and value of 2pᵢ·pⱼ/ŝ; 'momenta': final momenta/√ŝ."
    )
    nll_beta: float = Field(default=0.5, ge=0.0, le=1.0, description="β of β-NLL; 0 is the plain Gaussian NLL.")
    training: TrainingOptions = Field(
        default=TrainingOptions(epochs=80, width=128, depth=4),
        description="Network and optimiser; the default trains in ≈ 1–2 min on one core.",
    )
    seed: int = Field(default=1, ge=0, description="Seeds the phase-space points, the split and torch.")
    threads: int = Field(default=1, ge=1, le=64, description="torch intra-op threads (1 is fastest for small nets).")
    jobs: int = Field(default=2, ge=1, le=64, description="Processes evaluating |M|² with ufoamp.")
    out_dir: OutputDir = Field(default="surrogate", description="Model, metrics and plots go here.")


class Metrics(BaseModel):
    """Accuracy and calibration on the held-out points; also written to ``metrics.json``."""

    n_train: int = 0
    n_test: int
    relative_error_quantiles: dict[str, float] = Field(description="Quantile (50, 90, 99 %) of |pred-true|/true.")
    fraction_within_1pct: float
    pull_mean: float
    pull_std: float
    coverage_1sigma: float = Field(description="Share of points with |pull| < 1 (0.683 if calibrated).")
    train_loss: list[float] = Field(description="Mean training loss per epoch.")
    test_loss: float = Field(description="Plain Gaussian NLL (β = 0) on the held-out points, standardised units.")
    amplitude_points_per_second: float = Field(default=0.0, description="ufoamp |M|² evaluations per second.")
    surrogate_points_per_second: float = Field(description="Surrogate predictions per second, features included.")
    amplitude_seconds: float = 0.0
    training_seconds: float
    acceptance: float = Field(default=0.0, description="Share of RAMBO points passing the y_min cut.")


class Result(ToolResult):
    metrics: Metrics | None = None
    model_path: str | None = None
    metrics_path: str | None = None
    plots: list[PlotRecord] = Field(default_factory=list)


CHUNK = 1000
"""Points per ufoamp job: each job builds the matrix element (≈ 50 ms) once."""


def run(request: Request) -> Result:
    versions = package_versions(*ML_PACKAGES, "ufoamp", "ufo-sm")
    try:
        return _run(request, versions)
    except MLInputError as exc:
        return Result(ok=False, error=str(exc), versions=versions, seed=request.seed)


def _run(request: Request, versions: dict[str, str]) -> Result:
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(request.seed)
    sqrt_s = (request.sqrt_s_gev, request.sqrt_s_max_gev or request.sqrt_s_gev)
    momenta, acceptance = phase_space(request.n_points, sqrt_s, leg_masses(request.process), request.y_min, rng)
    start = time.perf_counter()
    m2 = _amplitudes(request.process, momenta, request.jobs)
    amplitude_seconds = time.perf_counter() - start
    good = np.isfinite(m2) & (m2 > 0)
    dropped = [] if good.all() else [f"{np.count_nonzero(~good)} points with |M|² ≤ 0 or not finite were dropped"]
    momenta, m2 = momenta[good], m2[good]
    seed_everything(request.seed, request.threads)
    order = rng.permutation(len(m2))
    test, fit = np.split(order, [max(1, round(request.test_fraction * len(m2)))])
    surrogate = Surrogate.fit(request, momenta[fit], m2[fit])
    history = surrogate.train(momenta[fit], m2[fit], request)
    metrics, errors = _metrics(surrogate, momenta[test], m2[test], history)
    metrics.n_train, metrics.acceptance, metrics.amplitude_seconds = len(fit), acceptance, amplitude_seconds
    metrics.amplitude_points_per_second = len(good) / amplitude_seconds
    out = Path(request.out_dir)
    model_path, metrics_path = out / "model.pt", out / "metrics.json"
    surrogate.save(model_path)
    with atomic_path(metrics_path) as tmp:
        tmp.write_text(metrics.model_dump_json(indent=2))
    plots = _plots(errors, out, f"{request.process}, {len(test)} held-out points")
    return Result(
        ok=True,
        metrics=metrics,
        model_path=str(model_path),
        metrics_path=str(metrics_path),
        plots=plots,
        files=[record_file(model_path, MODEL_KIND), record_file(metrics_path, "json"), *plot_files(plots)],
        versions=versions,
        seed=request.seed,
        warnings=dropped,
    )


def _matrix_element(process: str) -> Any:
    import os  # noqa: PLC0415

    try:
        import ufo_sm  # type: ignore[import-untyped]  # noqa: PLC0415
        from ufoamp.analysis import MatrixElement  # noqa: PLC0415
    except ImportError:
        msg = "ufoamp and ufo-sm are not installed in this sandbox; install the ml extra (pip install 'madagents[ml]')"
        raise MLInputError(msg) from None
    try:
        with warnings.catch_warnings():  # ufoamp reads the UFO files without closing them
            warnings.simplefilter("ignore", ResourceWarning)
            return MatrixElement(os.path.dirname(ufo_sm.__file__), process)
    except (KeyError, ValueError) as exc:
        msg = f"ufoamp cannot set up process {process!r} with the SM UFO: {exc}"
        raise MLInputError(msg) from None


def leg_masses(process: str) -> list[float]:
    """Masses of all legs, incoming first; the incoming must be massless partons along the beam."""
    element = _matrix_element(process)
    masses = [abs(float(element.proc.amp.mass(pdg))) for pdg in element.pdgs]
    if element.n_in != 2 or any(masses[:2]) or len(masses) < 4:  # noqa: PLR2004 - 2 → n ≥ 2
        msg = f"process {process!r}: need two massless incoming particles and at least two outgoing; got {masses}"
        raise MLInputError(msg)
    return masses


def _amplitudes(process: str, momenta: Floats, jobs: int) -> Floats:
    """|M|² from ufoamp, in chunks, over ``jobs`` processes (spawned: safe whatever threads the parent runs)."""
    import multiprocessing  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    chunks = np.array_split(momenta, max(1, math.ceil(len(momenta) / CHUNK)))
    if jobs == 1:
        return np.concatenate([squared_amplitude(process, chunk) for chunk in chunks])
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return np.concatenate(list(pool.map(squared_amplitude, [process] * len(chunks), chunks)))


def squared_amplitude(process: str, momenta: Floats) -> Floats:
    """|M|² (spin and colour summed, initial state averaged) from ufoamp and the SM UFO at momenta (N, legs, 4)."""
    import numpy as np  # noqa: PLC0415

    return np.asarray(_matrix_element(process).m2_events(momenta, chunk=256), dtype=np.float64)


class Surrogate:
    """The trained network with its scalers: predicts |M|² and its uncertainty from momenta (N, legs, 4)."""

    def __init__(self, model: Any, inputs: Scaler, target: Scaler, config: dict[str, Any]) -> None:
        self.model, self.inputs, self.target, self.config = model, inputs, target, config

    @classmethod
    def fit(cls, request: Request, momenta: Floats, m2: Floats) -> Surrogate:
        """A fresh network whose scalers are fitted to the training points."""
        import numpy as np  # noqa: PLC0415

        features = _inputs(momenta, request.features)
        config = {
            "process": request.process,
            "features": request.features,
            "n_inputs": features.shape[1],
            "training": request.training.model_dump(),
        }
        model = mlp(features.shape[1], 2, request.training)
        return cls(model, Scaler.fit(features), Scaler.fit(np.log(m2)[:, None]), config)

    def train(self, momenta: Floats, m2: Floats, request: Request) -> TrainingHistory:
        import numpy as np  # noqa: PLC0415

        torch = require_torch()
        x = torch.from_numpy(self.inputs.apply(_inputs(momenta, request.features))).float()
        y = torch.from_numpy(self.target.apply(np.log(m2)[:, None])[:, 0]).float()
        return train(self.model, _nll(request.nll_beta), [x, y], request.training)

    def predict_log(self, momenta: Floats) -> tuple[Floats, Floats]:
        """Mean and standard deviation of log |M|²."""
        import numpy as np  # noqa: PLC0415

        torch = require_torch()
        x = torch.from_numpy(self.inputs.apply(_inputs(momenta, self.config["features"]))).float()
        with torch.no_grad():
            out = self.model(x).double().numpy()
        scale = float(self.target.std[0])
        return out[:, 0] * scale + float(self.target.mean[0]), np.exp(np.clip(out[:, 1], *LOG_SIGMA_RANGE)) * scale

    def predict(self, momenta: Floats) -> tuple[Floats, Floats]:
        """|M|² and its standard deviation (σ_log × |M|², first order)."""
        import numpy as np  # noqa: PLC0415

        mean, sigma = self.predict_log(momenta)
        value = np.exp(mean)
        return value, value * sigma

    def save(self, path: Path) -> None:
        torch = require_torch()
        state = {
            "state_dict": self.model.state_dict(),
            "config": self.config,
            "inputs": self.inputs.to_json(),
            "target": self.target.to_json(),
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: Path) -> Surrogate:
        import numpy as np  # noqa: PLC0415

        torch = require_torch()
        state = torch.load(path, weights_only=True)
        config = state["config"]
        model = mlp(config["n_inputs"], 2, TrainingOptions(**config["training"]))
        model.load_state_dict(state["state_dict"])
        model.eval()
        inputs, target = (
            Scaler(np.asarray(state[k]["mean"]), np.asarray(state[k]["std"])) for k in ("inputs", "target")
        )
        return cls(model, inputs, target, config)


LOG_SIGMA_RANGE = (-15.0, 5.0)
"""log σ (standardised units) is clipped to this range, so one point cannot make the loss infinite."""


def _nll(beta: float) -> Any:
    """Heteroscedastic Gaussian NLL of a (mean, log σ) head; β > 0 weights each point by the detached σ^{2β}."""
    torch = require_torch()

    def loss(model: Any, x: Any, y: Any) -> Any:
        out = model(x)
        mean, log_sigma = out[:, 0], out[:, 1].clamp(*LOG_SIGMA_RANGE)
        variance = torch.exp(2 * log_sigma)
        nll = 0.5 * (y - mean) ** 2 / variance + log_sigma
        if beta > 0:
            nll = nll * variance.detach() ** beta
        return nll.mean()

    return loss


def _inputs(momenta: Floats, features: Features) -> Floats:
    """Network inputs: log and value of 2pᵢ·pⱼ/ŝ for every pair but the incoming one, or final momenta/√ŝ; + log ŝ."""
    import numpy as np  # noqa: PLC0415

    products = minkowski_products(momenta)
    s = products[:, 0, 1]
    if features == "momenta":
        scaled = momenta[:, 2:].reshape(len(momenta), -1) / np.sqrt(s)[:, None]
        return np.concatenate([scaled, np.log(s)[:, None]], axis=1)
    first, second = np.triu_indices(momenta.shape[1], k=1)
    ratios = np.abs(products[:, first[1:], second[1:]]) / s[:, None]
    return np.concatenate([np.log(ratios), ratios, np.log(s)[:, None]], axis=1)


def _metrics(
    surrogate: Surrogate, momenta: Floats, m2: Floats, history: TrainingHistory
) -> tuple[Metrics, tuple[Floats, Floats]]:
    """Accuracy, calibration and speed on held-out points; also the relative errors and pulls for the plots."""
    import numpy as np  # noqa: PLC0415

    torch = require_torch()
    mean, sigma = surrogate.predict_log(momenta)
    relative, pull = np.abs(np.expm1(mean - np.log(m2))), (mean - np.log(m2)) / sigma
    x = torch.from_numpy(surrogate.inputs.apply(_inputs(momenta, surrogate.config["features"]))).float()
    y = torch.from_numpy(surrogate.target.apply(np.log(m2)[:, None])[:, 0]).float()
    with torch.no_grad():
        test_loss = float(_nll(0.0)(surrogate.model, x, y))
    start, calls = time.perf_counter(), 0
    while calls == 0 or time.perf_counter() - start < MIN_TIMING_SECONDS:
        surrogate.predict(momenta)
        calls += 1
    metrics = Metrics(
        n_test=len(m2),
        relative_error_quantiles={f"{q:g}": float(np.quantile(relative, q / 100)) for q in (50, 90, 99)},
        fraction_within_1pct=float(np.mean(relative < 0.01)),  # noqa: PLR2004
        pull_mean=float(np.mean(pull)),
        pull_std=float(np.std(pull)),
        coverage_1sigma=float(np.mean(np.abs(pull) < 1)),
        train_loss=history.train,
        test_loss=test_loss,
        surrogate_points_per_second=calls * len(m2) / (time.perf_counter() - start),
        training_seconds=history.seconds,
    )
    return metrics, (relative, pull)


MIN_TIMING_SECONDS = 0.3
"""The surrogate's speed is timed over repeated predictions of the held-out set lasting at least this long."""


def _plots(errors: tuple[Floats, Floats], out: Path, legend: str) -> list[PlotRecord]:
    import numpy as np  # noqa: PLC0415

    relative, pull = errors
    relative_plot = write_comparison(
        out,
        "relative_error",
        "$\\log_{10}$ |pred − true| / true",
        (60, -6.0, 0.0),
        {"held-out points": (np.log10(np.maximum(relative, 1e-300)), None)},
        f"{legend}\n{np.mean(relative < 0.01):.1%} within 1 %",  # noqa: PLR2004
    )
    pull_plot = write_comparison(
        out,
        "pull",
        "(log pred − log true) / σ",
        (50, -5.0, 5.0),
        {"held-out points": (pull, None)},
        f"{legend}\npull mean {np.mean(pull):.2f}, std {np.std(pull):.2f}",
    )
    return [relative_plot, pull_plot]


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
