"""m_T of a lepton and the missing pT on real Pythia8 W → eν events: the Jacobian peak lies just below m_W.

The W events come from the generation tool with Pythia8's own switches (``WeakSingleBoson:ffbar2W``, W decays
to eν only), not from a workflow: the process catalogue's W → ℓν entry is the workflows' way to ask for them.
At particle level the missing pT is the neutrino's, so m_T ≤ m_W up to the W width, and its distribution peaks
just below m_W (the Jacobian peak; PDG 2024: m_W = 80.37 GeV, Γ_W = 2.09 GeV).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from madagents_tools.analysis import analyze
from madagents_tools.generation import pythia8_generate

pytestmark = pytest.mark.slow

W_MASS_GEV = 80.37
"""PDG 2024 average (pdg.lbl.gov, W boson listing)."""
W_TO_E_NU = [
    "Beams:eCM = 13000",
    "WeakSingleBoson:ffbar2W = on",
    "24:onMode = off",
    "24:onIfAny = 11",
]


def test_the_jacobian_peak_of_m_t_lies_just_below_the_w_mass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # tools resolve request paths against the run directory
    generated = pythia8_generate.run(pythia8_generate.Request(settings=W_TO_E_NU, n_events=600, seed=2024))
    assert generated.ok, generated.error
    Path("generation.json").write_text(generated.model_dump_json())
    request = analyze.Request.model_validate(
        {
            "generation_result_path": "generation.json",
            "process_label": "Pythia8 pp → W → eν, 13 TeV",
            "analysis": {
                "objects": {"electrons": {"collection": "electron", "pt_min_gev": 25, "abs_eta_max": 2.5}},
                "cuts": [{"count": "electrons", "min": 1, "max": 1}, {"observable": "met()", "min": 25}],
                "histograms": [
                    {"name": "m_t", "observable": "mt(electrons[0])", "bins": 30, "range": [0, 150], "label": "m_T"}
                ],
            },
        }
    )
    result = analyze.run(request)
    assert result.ok, result.error
    record = result.histograms[0]
    assert record.peak is not None
    assert 60 < record.peak < 85
    assert record.peak < W_MASS_GEV
    values = json.loads(Path(record.json_path).read_text())["storage"]["values"]
    above = sum(values[18:]) + record.overflow  # m_T ≥ 90 GeV: beyond m_W by more than 4 widths
    assert above < 0.05 * record.entries, "m_T ends at the W mass"
    assert result.n_selected > 150
