"""Learn the two leading objects of a final-state sample with conditional flow matching and generate new events.

The training events are the ones with at least two objects of the chosen collection (e.g. the two muons of
Drell–Yan). Their five features (:mod:`.ml_events`: the ``pair`` or ``objects`` parametrisation; the global
azimuth is dropped and drawn uniformly for generated events) are standardised and learnt by a velocity network
v(x, t, c) with the conditional flow-matching loss of Lipman et al., arXiv:2210.02747, on straight paths
x_t = (1 − t) x₀ + t x₁ from a standard normal x₀ (rectified flow, Liu et al., arXiv:2209.03003). The condition c is
the charge pair (q₁, q₂) of the two objects, one-hot: generated events draw it with the training frequencies, so
same-sign pairs and the charge–angle correlations (forward–backward asymmetry) are kept. Sampling integrates
dx/dt = v from t = 0 to 1 with a fixed-step RK4 or midpoint rule.

Generated events are written as the TTree ``events`` of the particle-level columns
(:data:`madagents_tools.io.final_state.BRANCHES`), so the ``analyze`` tool reads them unchanged: the two objects
(mass from the training sample, isolation 0), the other collections empty,
``mhat``/``met_pt``/``met_phi`` NaN (not modelled). Normalisation: every generated event carries the mean weight of
the training pairs, and the result's σ is the training σ (from its generation result) times the weighted share of
training events that have a pair, so the fiducial σ that the ``analyze`` tool derives from this result estimates the
training sample's. Point ``analyze``'s ``generation_result_path`` at this tool's result file.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, Field

from madagents_tools.contract import (
    OutputDir,
    OutputFile,
    RunPath,
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
    TrainingOptions,
    mlp,
    plot_files,
    require_torch,
    seed_everything,
    train,
    wasserstein_1d,
)
from madagents_tools.ml.ml_events import (
    CLASSIFIER_FEATURES,
    FEATURE_LABELS,
    Collection,
    LeadingPair,
    Parametrisation,
    classifier_features,
    features,
    from_features,
    read_leading_pair,
    write_events,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]

__all__ = ["Metrics", "Request", "Result", "main", "run"]

CHARGE_PAIRS = ("++", "+-", "-+", "--")
"""Condition labels: charges of the leading and the subleading object."""
TIME_FEATURES = 5


class Request(ToolRequest):
    """Which sample to learn, how, and how many events to generate."""

    tool: Literal["cfm_generator"] = "cfm_generator"
    events_path: RunPath = Field(default="events/events.root", description="Training TTree 'events'.")
    generation_result_path: RunPath | None = Field(
        default=None, description="Result JSON of the step that made events_path (σ); without it σ is unknown."
    )
    collection: Collection = Field(default="muon", description="The two leading objects of this collection.")
    parametrisation: Parametrisation = Field(default="pair", description="'pair' (m, pT, y, angles) or 'objects'.")
    n_events: int = Field(default=10_000, gt=0, le=10_000_000, description="Events to generate.")
    solver: Literal["rk4", "midpoint"] = Field(default="rk4", description="Fixed-step ODE rule.")
    ode_steps: int = Field(default=25, gt=0, le=10_000, description="Integration steps from noise to events.")
    validation_fraction: float = Field(default=0.2, gt=0.0, lt=1.0, description="Held out for the metrics.")
    training: TrainingOptions = Field(
        default=TrainingOptions(epochs=400, width=128, depth=3, learning_rate=2e-3),
        description="Velocity network and optimiser.",
    )
    seed: int = Field(default=1, ge=0)
    threads: int = Field(default=1, ge=1, le=64, description="torch intra-op threads.")
    out_dir: OutputDir = Field(default="cfm", description="Model, metrics and histograms go here.")
    output_path: OutputFile = Field(default="cfm/events.root", description="Generated events (TTree 'events').")


class Metrics(BaseModel):
    """How close the generated events are to held-out training events; also written to ``metrics.json``."""

    wasserstein: dict[str, float] = Field(description="1D earth mover's distance, generated vs held-out, per feature.")
    wasserstein_reference: dict[str, float] = Field(
        description="The same between the training and the held-out events: the finite-sample floor."
    )
    train_loss: list[float]
    validation_loss: list[float]
    training_seconds: float
    sampling_seconds: float = Field(description="ODE integration, mapping back and writing the TTree.")
    events_per_second: float


class Result(ToolResult):
    n_events: int = Field(default=0, description="Events generated.")
    n_training: int = Field(default=0, description="Training events (with a pair) the flow learnt from.")
    n_validation: int = 0
    sigma_pb: float | None = Field(default=None, description="σ of the generated sample (training σ × pair share).")
    sigma_err_pb: float | None = None
    pair_fraction: float = Field(default=0.0, description="Weighted share of training events with two objects.")
    event_weight: float = Field(default=0.0, description="Weight of every generated event.")
    charge_fractions: dict[str, float] = Field(default_factory=dict, description="Condition label frequencies.")
    metrics: Metrics | None = None
    model_path: str | None = None
    metrics_path: str | None = None
    events_path: str | None = None
    plots: list[PlotRecord] = Field(default_factory=list)


class _Generation(BaseModel):
    """The fields needed from any generation result; the others are ignored."""

    ok: bool
    sigma_pb: float | None = None
    sigma_err_pb: float | None = None


def run(request: Request) -> Result:
    versions = package_versions(*ML_PACKAGES, "uproot", "awkward")
    try:
        return _run(request, versions)
    except MLInputError as exc:
        return Result(ok=False, error=str(exc), versions=versions, seed=request.seed)


def _run(request: Request, versions: dict[str, str]) -> Result:
    import numpy as np  # noqa: PLC0415

    pair = read_leading_pair(Path(request.events_path), request.collection)
    sigma, sigma_err, fraction, warnings = _normalisation(request, pair)
    rng = seed_everything(request.seed, request.threads)
    labels = _labels(pair)
    n_validation = max(1, round(request.validation_fraction * len(labels)))
    held_out, fit = np.split(rng.permutation(len(labels)), [n_validation])
    values = _unbounded(features(pair, request.parametrisation), request.parametrisation)
    flow = _Flow.fit(values[fit], labels[fit], request)
    history = flow.train(values, labels, (fit, held_out), request.training)
    start = time.perf_counter()
    generated = _generate(flow, pair, request, rng)
    with atomic_path(request.output_path) as tmp:
        write_events(tmp, generated, request.collection, jets=pair.has_jets)
    seconds = time.perf_counter() - start
    out = Path(request.out_dir)
    distances, plots = _compare(pair, held_out, fit, generated, out)
    metrics = Metrics(
        **distances,
        train_loss=history.train,
        validation_loss=history.validation,
        training_seconds=history.seconds,
        sampling_seconds=seconds,
        events_per_second=request.n_events / seconds,
    )
    model_path, metrics_path = out / "model.pt", out / "metrics.json"
    flow.save(model_path)
    with atomic_path(metrics_path) as tmp:
        tmp.write_text(metrics.model_dump_json(indent=2))
    files = [record_file(request.output_path, "root", request.n_events), record_file(model_path, MODEL_KIND)]
    return Result(
        ok=True,
        n_events=request.n_events,
        n_training=len(fit),
        n_validation=len(held_out),
        sigma_pb=sigma,
        sigma_err_pb=sigma_err,
        pair_fraction=fraction,
        event_weight=float(np.mean(pair.weight)),
        charge_fractions={name: float(np.mean(labels == i)) for i, name in enumerate(CHARGE_PAIRS)},
        metrics=metrics,
        model_path=str(model_path),
        metrics_path=str(metrics_path),
        events_path=request.output_path,
        plots=plots,
        files=[*files, record_file(metrics_path, "json"), *plot_files(plots)],
        versions=versions,
        seed=request.seed,
        warnings=warnings,
    )


def _labels(pair: LeadingPair) -> Any:
    """Index into :data:`CHARGE_PAIRS` per event."""
    return 2 * (pair.charge[:, 0] < 0) + (pair.charge[:, 1] < 0)


class _Flow:
    """The velocity network with its feature scaler and what generation needs from the training sample."""

    def __init__(self, model: Any, scaler: Scaler, config: dict[str, Any]) -> None:
        self.model, self.scaler, self.config = model, scaler, config

    @classmethod
    def fit(cls, values: Floats, labels: Any, request: Request) -> _Flow:
        import numpy as np  # noqa: PLC0415

        n_features = values.shape[1]
        model = mlp(n_features + TIME_FEATURES + len(CHARGE_PAIRS), n_features, request.training)
        frequencies = np.bincount(labels, minlength=len(CHARGE_PAIRS)) / len(labels)
        config = {
            "parametrisation": request.parametrisation,
            "training": request.training.model_dump(),
            "label_frequencies": [float(f) for f in frequencies],
        }
        return cls(model, Scaler.fit(values), config)

    def inputs(self, x: Any, t: Any, labels: Any) -> Any:
        torch = require_torch()
        angles = 2 * math.pi * t
        embedding = [t, torch.sin(angles), torch.cos(angles), torch.sin(2 * angles), torch.cos(2 * angles)]
        return torch.cat([x, *embedding, torch.nn.functional.one_hot(labels, len(CHARGE_PAIRS)).float()], dim=1)

    def train(self, values: Floats, labels: Any, split: tuple[Any, Any], options: TrainingOptions) -> Any:
        torch = require_torch()
        x = torch.from_numpy(self.scaler.apply(values)).float()
        c = torch.from_numpy(labels).long()

        def loss(model: Any, x1: Any, label: Any) -> Any:
            x0, t = torch.randn_like(x1), torch.rand(len(x1), 1)
            velocity = model(self.inputs((1 - t) * x0 + t * x1, t, label))
            return torch.mean((velocity - (x1 - x0)) ** 2)

        fit, held_out = (torch.from_numpy(index) for index in split)
        return train(self.model, loss, [x[fit], c[fit]], options, validation=[x[held_out], c[held_out]])

    def sample(self, labels: Any, solver: str, steps: int) -> Floats:
        """Integrate dx/dt = v(x, t, c) from normal noise at t = 0 to t = 1; features in physical units."""
        torch = require_torch()
        c = torch.from_numpy(labels).long()
        x = torch.randn(len(labels), len(self.scaler.mean))
        dt = 1.0 / steps

        def v(x: Any, t: float) -> Any:
            return self.model(self.inputs(x, torch.full((len(x), 1), t), c))

        with torch.no_grad():
            for step in range(steps):
                t = step * dt
                if solver == "midpoint":
                    x = x + dt * v(x + dt / 2 * v(x, t), t + dt / 2)
                    continue
                k1 = v(x, t)
                k2 = v(x + dt / 2 * k1, t + dt / 2)
                k3 = v(x + dt / 2 * k2, t + dt / 2)
                x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + v(x + dt * k3, t + dt))
        return self.scaler.invert(x.double().numpy())

    def save(self, path: Path) -> None:
        torch = require_torch()
        state = {"state_dict": self.model.state_dict(), "config": self.config, "scaler": self.scaler.to_json()}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)


def _unbounded(values: Floats, parametrisation: Parametrisation) -> Floats:
    """The flow learns atanh(cos θ*) rather than cos θ*: every real output then maps back inside [-1, 1]."""
    import numpy as np  # noqa: PLC0415

    if parametrisation == "pair":
        values = values.copy()
        values[:, COS_THETA] = np.arctanh(np.clip(values[:, COS_THETA], -COS_LIMIT, COS_LIMIT))
    return values


def _bounded(values: Floats, parametrisation: Parametrisation) -> Floats:
    import numpy as np  # noqa: PLC0415

    if parametrisation == "pair":
        values = values.copy()
        values[:, COS_THETA] = np.clip(np.tanh(values[:, COS_THETA]), -COS_LIMIT, COS_LIMIT)
    return values


COS_THETA = 3
"""Column of cos θ* in the pair features."""
COS_LIMIT = 1 - 1e-9


def _generate(flow: _Flow, pair: LeadingPair, request: Request, rng: Any) -> dict[str, Any]:
    """The TTree columns of ``n_events`` generated pairs (see :func:`madagents_tools.ml.ml_events.write_events`)."""
    import numpy as np  # noqa: PLC0415

    labels = rng.choice(len(CHARGE_PAIRS), size=request.n_events, p=flow.config["label_frequencies"])
    values = _bounded(flow.sample(labels, request.solver, request.ode_steps), request.parametrisation)
    mass = float(np.median(pair.mass))
    phi = rng.uniform(-np.pi, np.pi, request.n_events)
    pt, eta, phis, swapped = from_features(values, request.parametrisation, phi, mass)
    charge = np.stack([np.where(labels >= 2, -1, 1), np.where(labels % 2 == 1, -1, 1)], axis=1)  # noqa: PLR2004
    charge[swapped] = charge[swapped][:, ::-1]
    weight = np.full(request.n_events, float(np.mean(pair.weight)))
    return {"pt": pt, "eta": eta, "phi": phis, "mass": np.full_like(pt, mass), "charge": charge, "weight": weight}


def _compare(
    pair: LeadingPair, held_out: Any, fit: Any, generated: dict[str, Any], out: Path
) -> tuple[dict[str, dict[str, float]], list[PlotRecord]]:
    """Per-feature distances (generated and training vs held-out events) and their histograms."""
    import numpy as np  # noqa: PLC0415

    from madagents_tools.ml.ml_common import write_comparison  # noqa: PLC0415

    reference = classifier_features(pair)
    fake = classifier_features(_as_pair(generated, pair))
    distances: dict[str, dict[str, float]] = {"wasserstein": {}, "wasserstein_reference": {}}
    plots = []
    for i, name in enumerate(CLASSIFIER_FEATURES):
        distances["wasserstein"][name] = wasserstein_1d(fake[:, i], reference[held_out, i])
        distances["wasserstein_reference"][name] = wasserstein_1d(reference[fit, i], reference[held_out, i])
        low, high = (float(v) for v in np.quantile(reference[:, i], [0.002, 0.998]))
        datasets = {"training": (reference[:, i], pair.weight), "generated": (fake[:, i], generated["weight"])}
        legend = f"CFM vs training, {len(reference)} / {len(fake)} events"
        plots.append(write_comparison(out / "hists", name, FEATURE_LABELS[name], (50, low, high), datasets, legend))
    return distances, plots


def _as_pair(columns: dict[str, Any], like: LeadingPair) -> LeadingPair:
    return LeadingPair(
        pt=columns["pt"],
        eta=columns["eta"],
        phi=columns["phi"],
        mass=columns["mass"],
        charge=columns["charge"],
        weight=columns["weight"],
        n_events=len(columns["weight"]),
        weight_sum=float(columns["weight"].sum()),
        n_more=0,
        has_jets=like.has_jets,
    )


def _normalisation(request: Request, pair: LeadingPair) -> tuple[float | None, float | None, float, list[str]]:
    """σ of the generated sample: training σ × weighted pair share (binomial error added in quadrature)."""
    import numpy as np  # noqa: PLC0415

    fraction = float(pair.weight.sum() / pair.weight_sum)
    fraction_err = math.sqrt(max(fraction * (1 - fraction), 0.0) / pair.n_events)
    warnings = []
    if pair.n_more:
        warnings.append(f"{pair.n_more} training events had more than two {request.collection}s; only two are made")
    if request.generation_result_path is None:
        return None, None, fraction, [*warnings, "no generation_result_path: σ unknown, analyze cannot normalise"]
    try:
        generation = _Generation.model_validate_json(Path(request.generation_result_path).read_text())
    except (OSError, ValueError) as exc:
        msg = f"generation result {request.generation_result_path} cannot be read: {exc}"
        raise MLInputError(msg) from None
    if not generation.ok or generation.sigma_pb is None or generation.sigma_err_pb is None:
        msg = f"generation result {request.generation_result_path} has no σ (ok={generation.ok})"
        raise MLInputError(msg)
    sigma = generation.sigma_pb * fraction
    error = float(np.hypot(generation.sigma_err_pb * fraction, generation.sigma_pb * fraction_err))
    return sigma, error, fraction, warnings


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
