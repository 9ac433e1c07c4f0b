"""What ``madagents compare`` does after parsing its options: compare, print, write the requested files."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from madagents.compare.compare import compare_samples
from madagents.compare.readers import load_sample
from madagents.compare.render import result_table, write_junit
from madagents.compare.statistics import Mode

__all__ = ["run_compare"]


def run_compare(
    run: Path,
    reference: Path,
    *,
    tolerances: Path | None,
    mode: Mode,
    junit: Path | None,
    json_path: Path | None,
    html_dir: Path | None,
    console: Console,
) -> bool:
    """Print the comparison and write its JUnit, JSON and HTML; True when compatible.

    Raises:
        UserInputError: bad input, before any file is written.
    """
    compared = compare_samples(load_sample(run), load_sample(reference), tolerances=tolerances, mode=mode)
    result = compared.result
    console.print(result_table(result))
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    if result.not_in_reference:
        console.print(f"not in the reference (not compared): {', '.join(result.not_in_reference)}", markup=False)
    if junit is not None:
        write_junit(result, junit)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(result.model_dump_json(indent=1) + "\n", encoding="utf-8")
    if html_dir is not None:
        from madagents.compare.gallery import write_gallery  # noqa: PLC0415 - matplotlib only when asked

        console.print(f"gallery: {write_gallery(result, compared.pairs, html_dir)}", markup=False)
    verdict = "[green]compatible[/green]" if result.compatible else "[red]incompatible[/red]"
    console.print(f"{verdict}: {run} vs {reference}", highlight=False)
    return result.compatible
