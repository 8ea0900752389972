"""A model's card: the JSON file beside a saved `.keras` model (its settings, normalisation, decision rule, scores)."""
from __future__ import annotations

import json
from pathlib import Path

from ccdseg.core.errors import UserInputError


# %% Functions
def card_path(model_path: str | Path) -> Path:
    """The JSON card (settings, normalisation, scores) stored beside a .keras model."""
    return Path(model_path).with_suffix(".json")


def read_card(model_path: str | Path) -> dict:
    """The card of a saved model ({} when it has none); a card that is not JSON raises `UserInputError`."""
    path = card_path(model_path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise UserInputError(f"{path}: not valid JSON") from None
