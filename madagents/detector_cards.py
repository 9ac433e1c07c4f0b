"""Cards of the parametric detector: the shipped ones (``cards/detector_<name>.yaml``) or a YAML file of the user.

The host loads a card and puts the whole of it into the detector request, so the plan and ``reproduce.sh`` carry
every number the detector applied.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from tools.detector_card import DetectorCard

__all__ = ["DETECTOR_CARDS", "load_detector_card"]

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
        label, text = f"detector card {path}", path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"{label} is not valid YAML: {exc}"
        raise ValueError(msg) from None
    try:
        return DetectorCard.model_validate(data)
    except ValidationError as exc:
        msg = f"{label} is not a valid detector card: {exc}"
        raise ValueError(msg) from None
