"""A comparison as a rich table (the terminal) and as JUnit XML (CI dashboards): one testcase per histogram and σ."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

from madagents.compare.models import ComparisonResult, CrossSectionComparison, HistogramComparison

__all__ = ["result_table", "result_text", "write_junit"]

_SIGMA_LABEL = {"sigma": "σ", "fiducial_sigma": "σ_fid"}


def result_text(result: ComparisonResult, width: int = 140) -> str:
    """The table as plain text, for a test's failure message or an MCP client."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True).print(result_table(result))
    return buffer.getvalue()


def result_table(result: ComparisonResult) -> Table:
    table = Table("", "quantity", "χ²/ndf", "p-value", "KS D (p)", "largest pull", "detail", highlight=False)
    table.title = f"{result.run} vs {result.reference} ({result.reference_kind}, {result.mode})"
    for histogram in result.histograms:
        worst = histogram.max_pull
        where = f"{worst.pull:+.2f} in [{worst.low:g}, {worst.high:g})" if worst and worst.pull is not None else "–"
        table.add_row(
            _mark(histogram.compatible, histogram.skipped),
            histogram.name
            if histogram.name == histogram.reference_name
            else f"{histogram.name} ↔ {histogram.reference_name}",
            f"{histogram.chi2:.1f}/{histogram.ndf}",
            f"{histogram.p_value:.3g}",
            _ks(histogram),
            where,
            "; ".join([*histogram.reasons, *histogram.notes]),
        )
    for sigma in result.cross_sections:
        table.add_row(
            _mark(sigma.compatible, sigma.skipped),
            _SIGMA_LABEL[sigma.quantity],
            "",
            f"{sigma.p_value:.3g}",
            "",
            f"{sigma.pull:+.2f}",
            f"{_pb(sigma.run_pb, sigma.run_err_pb)} vs {_pb(sigma.reference_pb, sigma.reference_err_pb)} pb",
        )
    return table


def _ks(item: HistogramComparison) -> str:
    """KS D with its p-value, or – where there was no KS test (the notes say why)."""
    if item.ks_statistic is None or item.ks_p_value is None:
        return "–"
    return f"{item.ks_statistic:.3g} ({item.ks_p_value:.3g})"


def _pb(value: float, error: float) -> str:
    return f"{value:.4g} ± {error:.2g}"


def _mark(compatible: bool, skipped: bool) -> str:
    if skipped:
        return "[yellow]–[/yellow]"
    return "[green]✓[/green]" if compatible else "[red]✗[/red]"


def write_junit(result: ComparisonResult, path: Path, suite: str = "madagents compare") -> None:
    """JUnit XML as CI dashboards read it: a failed testcase per incompatible histogram or cross section."""
    cases = [_histogram_case(item, result) for item in result.histograms]
    cases += [_sigma_case(item, result) for item in result.cross_sections]
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(sum(1 for case in cases if case.find("failure") is not None)),
        skipped=str(sum(1 for case in cases if case.find("skipped") is not None)),
        errors="0",
    )
    root.extend(cases)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n", encoding="utf-8")


def _case(
    name: str, result: ComparisonResult, text: str, *, compatible: bool, skipped: bool, reason: str
) -> ET.Element:
    case = ET.Element("testcase", classname=f"compare.{Path(result.run).name}", name=name)
    if skipped:
        ET.SubElement(case, "skipped", message="marked skip in the tolerances")
    elif not compatible:
        ET.SubElement(case, "failure", message=reason).text = text
    ET.SubElement(case, "system-out").text = text
    return case


def _histogram_case(item: HistogramComparison, result: ComparisonResult) -> ET.Element:
    text = (
        f"{item.name} vs {item.reference_name} in {result.reference}: "
        f"χ²/ndf = {item.chi2:.2f}/{item.ndf}, p = {item.p_value:.3g}"
        + (f"; KS D = {item.ks_statistic:.3g}, p = {item.ks_p_value:.3g}" if item.ks_statistic is not None else "")
        + "".join(f"; {note}" for note in item.notes)
    )
    return _case(
        item.name, result, text, compatible=item.compatible, skipped=item.skipped, reason="; ".join(item.reasons)
    )


def _sigma_case(item: CrossSectionComparison, result: ComparisonResult) -> ET.Element:
    text = (
        f"{_SIGMA_LABEL[item.quantity]} = {item.run_pb:.6g} ± {item.run_err_pb:.3g} pb vs {item.reference_pb:.6g} ± "
        f"{item.reference_err_pb:.3g} pb in {result.reference}: {item.pull:+.2f} combined σ, p = {item.p_value:.3g}"
    )
    reason = f"{item.pull:+.2f} combined σ apart (p = {item.p_value:.3g})"
    return _case(item.quantity, result, text, compatible=item.compatible, skipped=item.skipped, reason=reason)
