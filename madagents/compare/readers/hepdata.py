"""HEPData YAML: a data table (``independent_variables``/``dependent_variables``) or a record's submission.yaml.

Errors of a point are summed in quadrature, separately above and below: a ``symerror`` counts on both sides, an
``asymerror``'s positive part above and its negative part below (HEPData writes ``minus`` signed; a record that
swaps the signs is read the same way). Percent errors (``"5%"``) are relative to the value.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from madagents.compare.histogram import CROSS_SECTION_UNITS, Binned
from madagents.compare.readers.table import is_reference_table, read_table
from madagents.compare.sample import Sample
from madagents.errors import UserInputError

__all__ = ["read_hepdata"]


def read_hepdata(path: Path) -> Sample:
    documents = _yaml_documents(path)
    tables = [doc for doc in documents if isinstance(doc, dict) and "data_file" in doc]
    histograms: dict[str, Binned] = {}
    notes: list[str] = []
    if tables:  # a submission.yaml: each table in its own data file beside it
        for table in tables:
            data = _yaml_documents(path.parent / str(table["data_file"]))
            _add_table(histograms, notes, data[0] if data else None, path.parent / str(table["data_file"]), table)
    elif len(documents) == 1 and is_reference_table(documents[0]):
        return read_table(path, documents[0])
    elif len(documents) == 1:
        _add_table(histograms, notes, documents[0], path, {})
    if not histograms:
        msg = (
            f"{path} holds no HEPData table (a mapping with independent_variables and dependent_variables) and no "
            "submission.yaml entries with data_file; download the table as YAML from its HEPData record"
        )
        raise UserInputError(msg)
    return Sample(source="hepdata", path=str(path), histograms=histograms, notes=notes)


def _yaml_documents(path: Path) -> list[Any]:
    try:
        return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror or exc}"
        raise UserInputError(msg) from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        msg = f"{path} is not YAML text ({str(exc).splitlines()[0]}); give the table as downloaded from HEPData"
        raise UserInputError(msg) from None


def _add_table(histograms: dict[str, Binned], notes: list[str], table: Any, path: Path, entry: dict[str, Any]) -> None:
    if not isinstance(table, dict) or "dependent_variables" not in table or "independent_variables" not in table:
        msg = f"{path} is not a HEPData table: it needs independent_variables and dependent_variables"
        raise UserInputError(msg)
    independents = table["independent_variables"]
    if not isinstance(independents, list) or len(independents) != 1:
        msg = f"{path}: only tables with one independent variable (a 1D distribution) are compared"
        raise UserInputError(msg)
    edges = _edges(independents[0], path)
    dependents = table["dependent_variables"]
    for index, dependent in enumerate(dependents if isinstance(dependents, list) else []):
        header = dependent.get("header", {}) if isinstance(dependent, dict) else {}
        name = str(header.get("name", f"y{index + 1}"))
        if entry.get("name"):
            name = f"{entry['name']}" if len(dependents) == 1 else f"{entry['name']}: {name}"
        if name in histograms:
            name = f"{name} [{index + 1}]"
        scale = _pb_per_unit(str(header.get("units", "")))
        if scale is None:
            notes.append(f"{name}: units {header.get('units', 'absent')!r} are not a cross section (pb, fb, …)")
        histograms[name] = _binned(name, edges, dependent, path, scale)


def _edges(independent: Any, path: Path) -> np.typing.NDArray[np.float64]:
    values = independent.get("values", []) if isinstance(independent, dict) else []
    try:
        lows = [float(point["low"]) for point in values]
        highs = [float(point["high"]) for point in values]
    except (KeyError, TypeError, ValueError):
        msg = f"{path}: the independent variable needs bins (low, high) for every point; a histogram cannot be made"
        raise UserInputError(msg) from None
    if not lows or any(not math.isclose(high, low) for high, low in zip(highs[:-1], lows[1:], strict=True)):
        msg = f"{path}: the bins of the independent variable are not adjacent; only contiguous binnings are compared"
        raise UserInputError(msg)
    return np.asarray([*lows, highs[-1]], dtype=np.float64)


def _binned(name: str, edges: np.typing.NDArray[np.float64], dependent: Any, path: Path, scale: float | None) -> Binned:
    points = dependent.get("values", []) if isinstance(dependent, dict) else []
    if len(points) != len(edges) - 1:
        msg = f"{path}: {name} has {len(points)} values for {len(edges) - 1} bins"
        raise UserInputError(msg)
    values, down, up = [], [], []
    for number, point in enumerate(points, start=1):
        try:
            value = float(point["value"])
            below, above = _errors(point.get("errors", []), value)
        except (KeyError, TypeError, ValueError, AttributeError):
            msg = f"{path}: {name} point {number} is not a number with errors ({point!r})"
            raise UserInputError(msg) from None
        values.append(value)
        down.append(below)
        up.append(above)
    factor, units = (1.0, None) if scale is None else (scale, "pb")
    values_, down_, up_ = (np.asarray(numbers, dtype=np.float64) * factor for numbers in (values, down, up))
    return Binned(name, edges, values_, down_, up_, "data", units=units)


def _errors(errors: list[dict[str, Any]], value: float) -> tuple[float, float]:
    below2 = above2 = 0.0
    for error in errors:
        if "symerror" in error:
            size = abs(_number(error["symerror"], value))
            below2, above2 = below2 + size**2, above2 + size**2
        else:
            ends = (_number(error["asymerror"]["plus"], value), _number(error["asymerror"]["minus"], value))
            above2 += max(0.0, *ends) ** 2
            below2 += min(0.0, *ends) ** 2
    return math.sqrt(below2), math.sqrt(above2)


def _number(given: Any, value: float) -> float:
    text = str(given).strip()
    return float(text[:-1]) / 100 * abs(value) if text.endswith("%") else float(text)


def _pb_per_unit(text: str) -> float | None:
    """The size in pb of the cross-section unit that starts ``text`` (``PB/GEV`` → 1), None if there is none."""
    return CROSS_SECTION_UNITS.get(text.strip().lower().split("/")[0].strip())
