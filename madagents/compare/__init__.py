"""Statistical comparison of a run with another run, a golden, HEPData or YODA reference data."""

from madagents.compare.compare import compare_runs
from madagents.compare.models import BinPull, ComparisonResult, CrossSectionComparison, HistogramComparison
from madagents.compare.statistics import Mode
from madagents.compare.tolerances import Tolerance, Tolerances

__all__ = [
    "BinPull",
    "ComparisonResult",
    "CrossSectionComparison",
    "HistogramComparison",
    "Mode",
    "Tolerance",
    "Tolerances",
    "compare_runs",
]
