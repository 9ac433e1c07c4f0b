"""A histogram's unbinned values: the observable and weight of each selected event, for unbinned tests (KS).

One ``.npy`` file per histogram (``hists/NAME.values.npy``): a structured array of float32 pairs ``value``,
``weight``, in event order. Plain ``.npy`` rather than ``.npz``: its bytes depend only on the data (a zip entry
carries the time it was written), so a reproduced run's file has the same sha256. At most ``MAX_VALUES`` events are
kept (8 bytes each), the first ones: the events of a sample are independent, so the first N are a fair sample of
them, and the histogram record says how many there were in all.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from madagents_tools.contract import atomic_path

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]

__all__ = ["MAX_BYTES", "MAX_VALUES", "SUFFIX", "Unbinned", "read_values", "write_values"]

MAX_VALUES = 200_000
"""Events kept per histogram (1.6 MB): a KS test of two samples this large resolves shape differences of ~0.5 %."""
SUFFIX = ".values.npy"
FIELDS = ("value", "weight")
MAX_BYTES = 8 * MAX_VALUES + 4096
"""The largest such file (the data and its header); a reader refuses anything larger."""


@dataclass(frozen=True, slots=True)
class Unbinned:
    """The values and weights read back as float64."""

    values: Floats
    weights: Floats

    @property
    def uniform_weights(self) -> bool:
        return bool(len(self.weights) == 0 or (self.weights == self.weights[0]).all())


def write_values(path: Path, values: Floats, weights: Floats) -> int:
    """Write the first ``MAX_VALUES`` (value, weight) pairs to ``path``; returns how many were written."""
    import numpy as np  # noqa: PLC0415 - heavy imports stay out of the request/result models

    kept = min(len(values), MAX_VALUES)
    table = np.empty(kept, dtype=[(name, "<f4") for name in FIELDS])
    table["value"], table["weight"] = values[:kept], weights[:kept]
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.save(handle, table, allow_pickle=False)
    return kept


def read_values(data: bytes) -> Unbinned:
    """The values and weights of such a file's bytes; ``ValueError`` if they are not such a file."""
    import numpy as np  # noqa: PLC0415

    table = np.load(io.BytesIO(data), allow_pickle=False)
    if not isinstance(table, np.ndarray) or table.ndim != 1 or table.dtype.names != FIELDS:
        msg = f"not a table of {' and '.join(FIELDS)} (it holds {getattr(table, 'dtype', type(table).__name__)})"
        raise ValueError(msg)
    return Unbinned(np.asarray(table["value"], dtype=np.float64), np.asarray(table["weight"], dtype=np.float64))
