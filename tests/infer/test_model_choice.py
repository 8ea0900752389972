"""Which model segments a frame (ccdseg/infer/model_choice.py): chosen from the frame's own pixels."""
import json

import numpy as np

from ccdseg.core import paths
from ccdseg.infer import model_choice
from ccdseg.infer.model_choice import ModelChoice
from ccdseg.model.card import card_path
from ccdseg.model.unet import unet
from ccdseg.simulate.detector import DAMIC_M
from ccdseg.simulate.frame import simulate_frame
from ccdseg.simulate.skipper import simulate_skipper_frame


def test_skipper_frames_get_the_skipper_model_and_ccd_frames_the_default(tmp_path, monkeypatch):
    for name in ("default", "skipper"):
        model = unet(depth=2, base_filters=4, dropout=0.0, reg=0.0, optimizer="adam")
        model.save(tmp_path / f"{name}.keras")
        card_path(tmp_path / f"{name}.keras").write_text(json.dumps({"depth": 2, "name": name}))
    monkeypatch.setattr(paths, "DEFAULT_MODEL", tmp_path / "default.keras")
    choice = ModelChoice.load()
    assert set(choice.models) == {"ccd", "skipper"} and model_choice.skipper_model_path() == tmp_path / "skipper.keras"
    ccd = simulate_frame(np.random.default_rng(0), None, "mixed", (128, 128)).image
    skipper = simulate_skipper_frame(np.random.default_rng(1), DAMIC_M, (128, 256)).image
    chosen, why = choice.for_frame(skipper)
    assert chosen.card["name"] == "skipper" and "resolved" in why and "0.1" in why
    chosen, why = choice.for_frame(ccd)
    assert chosen.card["name"] == "default" and "not resolved" in why
    single = ModelChoice.load(tmp_path / "skipper.keras")
    assert single.for_frame(ccd)[0].card["name"] == "skipper"
    assert set(choice.map(lambda m: m).models) == {"ccd", "skipper"}
