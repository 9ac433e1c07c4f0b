"""``madagents.run`` in a real Jupyter kernel (ipykernel, driven by nbclient as a notebook front end would): the
roles show as they run, the progress bar as a live widget, and the result as markdown at the end of the cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import DRELL_YAN, REPO

pytestmark = pytest.mark.slow
CELL_TIMEOUT_S = 300
WIDGET = "application/vnd.jupyter.widget-view+json"


def test_progress_and_result_show_in_a_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel is a new process
    code = f"import madagents\nmadagents.run({str(DRELL_YAN)!r}, out='dy', events=300, seed=4, sandbox='local')"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs: list[dict[str, Any]] = notebook.cells[0].outputs
    shown = [output["data"] for output in outputs if output["output_type"] == "display_data"]
    html = " ".join(data.get("text/html", "") for data in shown)
    for role in ("planner", "installer", "generator", "analyst", "reviewer"):
        assert f">{role}</span> …" in html
    assert any(WIDGET in data for data in shown)  # the live progress bar (rich in an ipywidgets Output)
    (result,) = [output["data"] for output in outputs if output["output_type"] == "execute_result"]
    assert "- run dy: succeeded" in result["text/markdown"]
    assert "σ = " in result["text/markdown"]
    assert (tmp_path / "dy" / "hists" / "m_mumu.json").is_file()
