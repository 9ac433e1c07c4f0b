"""Classifier two-sample test: can a neural network tell generated events from reference events?

Both samples are reduced to the two leading objects of one collection (events with fewer are not compared: a
generator of pairs has a pair in every event by construction, and its σ accounts for the rest), described by the
ten features of :data:`.ml_events.CLASSIFIER_FEATURES` (both parametrisations of the pair). A small MLP is
trained on one half with a class-balanced binary cross-entropy and judged on the other half:

- AUC of the held-out scores (Mann–Whitney) with its Hanley–McNeil standard error (Radiology 143 (1982) 29);
  0.5 means the classifier sees no difference;
- weights w = D/(1 − D) = p_ref(x)/p_gen(x) on the held-out generated events (D the classifier's probability of
  "reference"; e.g. Diefenbacher et al., arXiv:2009.03796): where the generator is right they are 1, their spread
  and tails show where it is not; the reweighted feature histograms show what a correction would do;
- the verdict: ``compatible`` when AUC < auc_threshold + n_sigma · σ_AUC. A classifier test can show a difference,
  never prove there is none: its power grows with the sample size and the classifier's capacity.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, Field

from madagents_tools.contract import (
    OutputDir,
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
    write_comparison,
)
from madagents_tools.ml.ml_events import (
    CLASSIFIER_FEATURES,
    FEATURE_LABELS,
    Collection,
    classifier_features,
    read_leading_pair,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]

__all__ = ["Metrics", "Request", "Result", "main", "run"]

EXTREME_WEIGHT = 5.0
"""Weights above this or below its inverse count as extreme in the report."""
D_CLIP = 1e-4


class Request(ToolRequest):
    """The two samples and the classifier."""

    tool: Literal["classifier_test"] = "classifier_test"
    generated_path: RunPath = Field(default="cfm/events.root", description="TTree 'events' under test.")
    reference_path: RunPath = Field(default="events/events.root", description="TTree 'events' taken as truth.")
    collection: Collection = Field(default="muon", description="The two leading objects of this collection.")
    test_fraction: float = Field(default=0.5, gt=0.0, lt=1.0, description="Held out for AUC and weights.")
    auc_threshold: float = Field(default=0.55, gt=0.5, lt=1.0, description="AUC tolerated as 'no difference'.")
    n_sigma: float = Field(default=2.0, ge=0.0, description="Statistical margin on the AUC, in standard errors.")
    max_events: int | None = Field(default=None, gt=0, description="Use at most this many events per sample.")
    training: TrainingOptions = Field(
        default=TrainingOptions(epochs=30, width=64, depth=3, learning_rate=1e-3),
        description="Classifier network and optimiser.",
    )
    seed: int = Field(default=1, ge=0)
    threads: int = Field(default=1, ge=1, le=64, description="torch intra-op threads.")
    out_dir: OutputDir = Field(default="classifier", description="Model, metrics and histograms go here.")


class Metrics(BaseModel):
    """The test statistics; also written to ``metrics.json``."""

    auc: float
    auc_err: float = Field(description="Hanley–McNeil standard error of the AUC.")
    n_test_generated: int
    n_test_reference: int
    weight_mean: float = Field(description="Mean of w = D/(1-D) on held-out generated events (1 if compatible).")
    weight_std: float
    weight_quantiles: dict[str, float] = Field(description="1, 50, 99 % quantiles of w.")
    fraction_extreme_weights: float = Field(description=f"Share of w > {EXTREME_WEIGHT} or < 1/{EXTREME_WEIGHT}.")
    feature_shifts: dict[str, float] = Field(description="1D Wasserstein distance per feature, in reference σ.")
    train_loss: list[float]
    validation_loss: list[float]


class Result(ToolResult):
    compatible: bool | None = Field(default=None, description="True when AUC < threshold + n_sigma · σ_AUC.")
    message: str = Field(default="", description="The verdict in words, for the reviewer.")
    n_generated: int = Field(default=0, description="Generated events with a pair.")
    n_reference: int = Field(default=0, description="Reference events with a pair.")
    metrics: Metrics | None = None
    model_path: str | None = None
    metrics_path: str | None = None
    plots: list[PlotRecord] = Field(default_factory=list)


def run(request: Request) -> Result:
    versions = package_versions(*ML_PACKAGES, "uproot", "awkward")
    try:
        return _run(request, versions)
    except MLInputError as exc:
        return Result(ok=False, error=str(exc), versions=versions, seed=request.seed)


def _run(request: Request, versions: dict[str, str]) -> Result:
    import numpy as np  # noqa: PLC0415

    rng = seed_everything(request.seed, request.threads)
    samples = [_sample(Path(path), request, rng) for path in (request.generated_path, request.reference_path)]
    x = np.concatenate([values for values, _ in samples])
    y = np.concatenate([np.full(len(values), float(label)) for label, (values, _) in enumerate(samples)])
    weight = np.concatenate([weights / weights.sum() * len(x) / 2 for _, weights in samples])  # balanced classes
    test, fit = np.split(rng.permutation(len(x)), [round(request.test_fraction * len(x))])
    scaler = Scaler.fit(x[fit])
    model = mlp(x.shape[1], 1, request.training)
    history = _train(model, scaler.apply(x), y, weight, (fit, test), request.training)
    scores = _scores(model, scaler.apply(x[test]))
    positive = y[test] == 1
    auc = _auc(scores[positive], scores[~positive])
    auc_err = _hanley_mcneil(auc, int(np.count_nonzero(positive)), int(np.count_nonzero(~positive)))
    d = np.clip(1 / (1 + np.exp(-scores[~positive])), D_CLIP, 1 - D_CLIP)
    w = d / (1 - d)
    metrics = _metrics((auc, auc_err), w, samples, history, int(np.count_nonzero(positive)))
    compatible = auc < request.auc_threshold + request.n_sigma * auc_err
    out = Path(request.out_dir)
    plots = _plots(x[test], positive, w, out, metrics)
    model_path, metrics_path = out / "model.pt", out / "metrics.json"
    with atomic_path(model_path) as tmp:
        require_torch().save({"state_dict": model.state_dict(), "scaler": scaler.to_json()}, tmp)
    with atomic_path(metrics_path) as tmp:
        tmp.write_text(metrics.model_dump_json(indent=2))
    return Result(
        ok=True,
        compatible=compatible,
        message=_message(metrics, compatible, request),
        n_generated=len(samples[0][0]),
        n_reference=len(samples[1][0]),
        metrics=metrics,
        model_path=str(model_path),
        metrics_path=str(metrics_path),
        plots=plots,
        files=[record_file(model_path, MODEL_KIND), record_file(metrics_path, "json"), *plot_files(plots)],
        versions=versions,
        seed=request.seed,
    )


def _sample(path: Path, request: Request, rng: Any) -> tuple[Floats, Floats]:
    """Features and weights of the events with a pair, at most ``max_events`` of them (a random subset)."""
    pair = read_leading_pair(path, request.collection)
    values, weights = classifier_features(pair), pair.weight
    if request.max_events is not None and len(values) > request.max_events:
        chosen = rng.choice(len(values), size=request.max_events, replace=False)
        values, weights = values[chosen], weights[chosen]
    if (weights <= 0).any():
        msg = f"{path} has events with weight ≤ 0; the classifier test needs positive weights"
        raise MLInputError(msg)
    return values, weights


def _train(model: Any, x: Floats, y: Floats, weight: Floats, split: tuple[Any, Any], options: TrainingOptions) -> Any:
    torch = require_torch()
    tensors = [torch.from_numpy(array).float() for array in (x, y, weight)]
    fit, test = (torch.from_numpy(index) for index in split)

    def loss(model: Any, x: Any, y: Any, weight: Any) -> Any:
        logits = model(x)[:, 0]
        return torch.mean(weight * torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none"))

    return train(model, loss, [t[fit] for t in tensors], options, validation=[t[test] for t in tensors])


def _scores(model: Any, x: Floats) -> Floats:
    """Classifier logits (log D/(1-D))."""
    torch = require_torch()
    with torch.no_grad():
        logits: Floats = model(torch.from_numpy(x).float())[:, 0].double().numpy()
    return logits


def _auc(positive: Floats, negative: Floats) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counted half (Mann–Whitney)."""
    import numpy as np  # noqa: PLC0415

    scores = np.concatenate([positive, negative])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2)[inverse]  # average rank of tied scores, 1-based
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _hanley_mcneil(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC (Hanley & McNeil, Radiology 143 (1982) 29, eq. 2)."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)
    return math.sqrt(max(variance, 0.0) / (n_pos * n_neg))


def _metrics(
    auc: tuple[float, float], w: Floats, samples: list[tuple[Floats, Floats]], history: Any, n_test_reference: int
) -> Metrics:
    import numpy as np  # noqa: PLC0415

    generated, reference = samples[0][0], samples[1][0]
    shifts = {
        name: wasserstein_1d(generated[:, i], reference[:, i]) / max(float(np.std(reference[:, i])), 1e-12)
        for i, name in enumerate(CLASSIFIER_FEATURES)
    }
    extreme = (w > EXTREME_WEIGHT) | (w < 1 / EXTREME_WEIGHT)
    return Metrics(
        auc=auc[0],
        auc_err=auc[1],
        n_test_generated=len(w),
        n_test_reference=n_test_reference,
        weight_mean=float(np.mean(w)),
        weight_std=float(np.std(w)),
        weight_quantiles={f"{q:g}": float(np.quantile(w, q / 100)) for q in (1, 50, 99)},
        fraction_extreme_weights=float(np.mean(extreme)),
        feature_shifts=shifts,
        train_loss=history.train,
        validation_loss=history.validation,
    )


def _message(metrics: Metrics, compatible: bool, request: Request) -> str:
    largest = sorted(metrics.feature_shifts.items(), key=lambda item: -item[1])[:3]
    shifts = ", ".join(f"{name} ({shift:.2f} σ)" for name, shift in largest)
    n_test = metrics.n_test_generated + metrics.n_test_reference
    head = f"AUC = {metrics.auc:.3f} ± {metrics.auc_err:.3f} on {n_test} held-out events"
    limit = f"{request.auc_threshold} + {request.n_sigma:g} σ"
    if compatible:
        return (
            f"{head}: compatible — the classifier does not separate generated from reference {request.collection} "
            f"pairs beyond AUC {limit}; the weights w = D/(1−D) have mean {metrics.weight_mean:.2f} and spread "
            f"{metrics.weight_std:.2f}. Largest 1D differences: {shifts}."
        )
    return (
        f"{head}: NOT compatible — the classifier separates generated from reference {request.collection} pairs "
        f"(AUC above {limit}); {metrics.fraction_extreme_weights:.1%} of generated events need weights beyond "
        f"[1/{EXTREME_WEIGHT:g}, {EXTREME_WEIGHT:g}]. Largest 1D differences: {shifts}; the reweighted histograms "
        "show where the generated distribution must move."
    )


def _plots(x: Floats, positive: Any, w: Floats, out: Path, metrics: Metrics) -> list[PlotRecord]:
    import numpy as np  # noqa: PLC0415

    legend = f"AUC = {metrics.auc:.3f} ± {metrics.auc_err:.3f}"
    log_w = np.log10(w)
    plots = [
        write_comparison(
            out, "weights", "$\\log_{10}$ w = D/(1−D)", (40, -2.0, 2.0), {"generated": (log_w, None)}, legend
        )
    ]
    generated, reference = x[~positive], x[positive]
    for i, name in enumerate(CLASSIFIER_FEATURES):
        low, high = (float(v) for v in np.quantile(reference[:, i], [0.002, 0.998]))
        datasets = {
            "reference": (reference[:, i], None),
            "generated": (generated[:, i], None),
            "generated × w": (generated[:, i], w),
        }
        plots.append(write_comparison(out / "hists", name, FEATURE_LABELS[name], (50, low, high), datasets, legend))
    return plots


def main() -> int:
    return tool_main(run, Request, Result)


if __name__ == "__main__":
    exit_without_teardown(main())
