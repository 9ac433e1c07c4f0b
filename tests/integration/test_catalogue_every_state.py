"""Every final state of every catalogue process initialises real Pythia8 and generates with σ > 0 (hard process only).

A switch that closes what it meant to open (e.g. ``onPosIfAny`` followed by ``onNegIfAny``, which leaves only the
antiparticle's decays on) makes Pythia8 refuse the process at init with "vanishing cross sections".
"""

from __future__ import annotations

import pytest

from madagents.processes import CATALOGUE, render_settings
from madagents.workflow import ProcessSpec

pytestmark = pytest.mark.slow

REQUIRED = {"mass_gev": 2000.0, "lambda_gev": 10000.0, "pthat_min_gev": 200.0}
"""Values for the parameters a process requires."""
STATES = [(name, list(state.products)) for name, recipe in CATALOGUE.items() for state in recipe.final_states]


@pytest.mark.parametrize(("name", "final_state"), STATES, ids=[f"{n}-{'_'.join(s)}" for n, s in STATES])
def test_the_final_state_generates(name: str, final_state: list[str]) -> None:
    import pythia8mc  # noqa: PLC0415

    recipe = CATALOGUE[name]
    parameters = {key: REQUIRED[key] for key, parameter in recipe.parameters.items() if parameter.required}
    spec = ProcessSpec(name=name, final_state=final_state, **parameters)
    pythia = pythia8mc.Pythia("", False)
    fixed = ["Beams:eCM = 13000", "PartonLevel:all = off", "HadronLevel:all = off", "Next:numberCount = 0"]
    for line in [*render_settings(recipe, spec.choice()), *fixed]:
        assert pythia.readString(line), line
    assert pythia.init(), "Pythia8 refused the process at init (its log says why)"
    assert all(pythia.next() for _ in range(20))
    assert pythia.infoPython().sigmaGen() > 0
