"""A reanalysis refuses, before anything runs, to select objects the source run's events do not hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot

from madagents.errors import UserInputError
from madagents.reanalysis import _check_collections
from madagents.workflow import load_workflow
from tests.conftest import REPO


def _events(path: Path, collections: list[str]) -> Path:
    with uproot.recreate(path) as file:
        file["events"] = {f"{name}_pt": np.zeros(3) for name in collections}
    return path


def test_taus_missing_from_an_older_run_are_refused(tmp_path: Path) -> None:
    workflow = load_workflow(REPO / "workflows" / "drell_yan_tautau.yaml")
    events = _events(tmp_path / "events.root", ["muon", "electron", "photon"])
    with pytest.raises(UserInputError, match=r"the analysis selects tau objects, but .* events hold none"):
        _check_collections(workflow, events, tmp_path)


def test_stored_collections_pass(tmp_path: Path) -> None:
    workflow = load_workflow(REPO / "workflows" / "drell_yan_tautau.yaml")
    _check_collections(workflow, _events(tmp_path / "events.root", ["muon", "tau"]), tmp_path)
