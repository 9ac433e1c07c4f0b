"""Detector cards as the host reads them: the parametric detector's (``cards/detector_<name>.yaml`` or a YAML file of
the user) and a user's Delphes card.

The host loads a card and puts the whole of it into the detector request, so the plan and ``reproduce.sh`` carry
every number the detector applied.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from madagents_tools.detector.delphes import inline_sources, shipped_card
from madagents_tools.detector.detector_card import DetectorCard

__all__ = ["DETECTOR_CARDS", "delphes_card_text", "load_detector_card"]

DETECTOR_CARDS = ("atlas", "cms")
"""Names of the shipped cards; their numbers follow the public Delphes cards of the same name."""


def load_detector_card(name_or_path: str | Path) -> DetectorCard:
    """A shipped card by name (``"atlas"``, ``"cms"``) or a card from a YAML file.

    Raises:
        ValueError: the name is unknown, or the file is missing, not YAML or not a valid card; the message says which.
    """
    if isinstance(name_or_path, str) and name_or_path in DETECTOR_CARDS:
        label = f"detector card {name_or_path!r}"
        text = resources.files("madagents").joinpath("cards", f"detector_{name_or_path}.yaml").read_text()
    else:
        path = Path(name_or_path)
        if not path.is_file():
            msg = (
                f"unknown detector card {str(name_or_path)!r}: give one of {', '.join(DETECTOR_CARDS)} "
                "or the path of a YAML card file"
            )
            raise ValueError(msg)
        label = f"detector card {path}"
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"{label} cannot be read as a text file ({type(exc).__name__}); give a YAML card"
            raise ValueError(msg) from None
    # Messages say where and what is wrong, never the card's text: a path such as /etc/shadow must not be echoed
    # (in `reproduce` the message goes to the model endpoint).
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        msg = f"{label} is not valid YAML{where}; give a YAML card such as madagents/cards/detector_atlas.yaml"
        raise ValueError(msg) from None
    try:
        return DetectorCard.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        # An unknown key at the top is counted, not named: that key is the file's content, and a file that is no
        # card at all (/etc/shadow) has nothing but such keys. Below a known section (muon.efficiency.0) it is a
        # card's misspelt key, worth naming.
        top_level = [error for error in errors if error["type"] == "extra_forbidden" and len(error["loc"]) == 1]
        named = [
            f"{'.'.join(map(str, error['loc'])) or 'the card'}: {error['msg']}"
            for error in errors
            if error not in top_level
        ]
        unknown = len(top_level)
        problems = "; ".join([*named[:5], *([f"{unknown} unknown keys"] if unknown else [])])
        msg = f"{label} is not a valid detector card ({problems}); see madagents/cards/detector_atlas.yaml"
        raise ValueError(msg) from None


def delphes_card_text(name: str) -> str | None:
    """None for a card Delphes ships (the sandbox reads it there); else the user's .tcl card with what it sources.

    Raises:
        ValueError: not a .tcl file, a missing one, or a ``source`` line that cannot be followed (the message says).
    """
    if shipped_card(name):
        return None
    if not name.endswith(".tcl"):
        msg = f"a Delphes card is atlas, cms or a .tcl file such as delphes_card_ATLAS.tcl, not {name!r}"
        raise ValueError(msg)
    if not Path(name).is_file():
        msg = f"Delphes card {name!r} does not exist: give atlas, cms, a card Delphes ships or your file"
        raise ValueError(msg)
    return inline_sources(Path(name))
