"""A model's card (ccdseg/model/card.py): the JSON beside a .keras file."""
import json

import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.model.card import card_path, read_card


def test_the_card_lies_beside_the_model_and_is_empty_when_missing(tmp_path):
    model = tmp_path / "Models" / "default.keras"
    assert card_path(model) == tmp_path / "Models" / "default.json"
    assert read_card(model) == {}
    model.parent.mkdir()
    card_path(model).write_text(json.dumps({"depth": 3, "decision": {"matched_threshold": 5.0}}))
    assert read_card(model) == {"depth": 3, "decision": {"matched_threshold": 5.0}}


def test_a_card_that_is_not_json_is_a_user_error(tmp_path):
    card_path(tmp_path / "m.keras").write_text("{depth: 3")
    with pytest.raises(UserInputError, match="m.json: not valid JSON"):
        read_card(tmp_path / "m.keras")
