"""A trained model ready to segment (ccdseg/infer/segmenter.py): frames of any size in tiles, NaN masked, precisions."""
import numpy as np
import pytest

from ccdseg.core.classes import BACKGROUND
from ccdseg.core.errors import UserInputError
from ccdseg.infer import segmenter as segmenter_module
from ccdseg.infer import tiling
from ccdseg.infer.segmenter import Segmenter
from ccdseg.model import normalisation
from ccdseg.model.predict import predict_normalised
from tests.simulated_frames import simulated


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return Segmenter.load(tiny_model_path)


def test_tiled_prediction_agrees_with_the_whole_frame(model):
    image = simulated((1000, 1500))
    whole = np.argmax(predict_normalised(model.model, normalisation.normalise_frames(image)[None], model.multiple)[0], axis=-1)
    tiled = model.segment(image, tile_px=256, margin_px=32, batch_size=4)
    assert tiled.shape == image.shape and tiled.dtype == np.uint8
    assert len(np.unique(whole)) > 1
    assert np.mean(tiled == whole) >= 0.999


def test_predict_classes_tiles_big_frames_and_masks_nan(model):
    image = simulated((tiling.TILE_SIZE_PX + 40, 96))
    image[5, 7] = np.nan
    classes = model.classes(image)
    assert classes.shape == image.shape and classes[5, 7] == BACKGROUND
    assert np.array_equal(classes, model.segment(image))
    small = simulated((64, 80))[None].repeat(2, axis=0)
    small[1, 3, 3] = np.inf
    small_classes = model.classes(small)
    assert small_classes.shape == (2, 64, 80) and small_classes[1, 3, 3] == BACKGROUND


def test_segment_frame_smaller_than_a_tile_and_refuses_all_nan(model):
    assert model.segment(simulated((20, 37))).shape == (20, 37)
    with pytest.raises(UserInputError, match="NaN"):
        model.segment(np.full((30, 30), np.nan, np.float32))


def test_bfloat16_copy_gives_nearly_the_same_classes(model):
    image = simulated((200, 300))
    fast = model.with_precision("bfloat16")
    assert model.with_precision("float32") is model and fast.card["precision"] == "bfloat16"
    assert np.mean(fast.segment(image) == model.segment(image)) > 0.98
    with pytest.raises(UserInputError, match="precision"):
        model.with_precision("int8")


def test_tile_defaults_are_read_when_a_frame_is_segmented(model, monkeypatch):
    planned = []

    def plan(shape, tile_px, margin_px, multiple):
        planned.append((tile_px, margin_px))
        return tiling.plan_sections(shape, tile_px, margin_px, multiple)

    monkeypatch.setattr(segmenter_module, "plan_sections", plan)
    monkeypatch.setattr(tiling, "TILE_SIZE_PX", 64)
    monkeypatch.setattr(tiling, "MARGIN_PX", 8)
    image = simulated((100, 130))
    assert np.array_equal(model.segment(image), model.segment(image, tile_px=64, margin_px=8))
    assert planned == [(64, 8), (64, 8)]
    assert model.classes(image).shape == (100, 130) and planned[-1] == (64, 8)  # a side above 64 px: in tiles


def test_the_card_gives_depth_and_normalisation_and_a_bad_file_is_a_user_error(model, tmp_path):
    assert model.multiple == 4 and model.card["normalisation"] == normalisation.NORMALISATION
    assert model.decision == {} and model.precision == "float32" and model.runtime == "keras"
    assert model.predict(simulated((30, 50))).shape == (1, 30, 50, 4)
    with pytest.raises(UserInputError, match="no such model file"):
        Segmenter.load(tmp_path / "absent.keras")
    (tmp_path / "broken.keras").write_bytes(b"not a zip file")
    with pytest.raises(UserInputError, match="not a loadable Keras model"):
        Segmenter.load(tmp_path / "broken.keras")


def test_segment_hands_back_the_background_its_row_normalisation_measured(tiny_model_path, tmp_path):
    import json
    import shutil

    from ccdseg.measure.background import frame_background
    from ccdseg.model.card import card_path
    from ccdseg.simulate.detector import DAMIC_M
    from ccdseg.simulate.skipper import simulate_skipper_frame

    path = tmp_path / "row.keras"
    shutil.copy(tiny_model_path, path)
    card_path(path).write_text(json.dumps({"depth": 2, "normalisation": {"method": "row-asinh", "asinh_scale": 50.0}}))
    frame = simulate_skipper_frame(np.random.default_rng(3), DAMIC_M, (160, 320)).image
    backgrounds = []
    Segmenter.load(path).segment(frame, backgrounds=backgrounds)
    again = frame_background(frame)
    assert len(backgrounds) == 1 and backgrounds[0].gain_adu_per_electron is not None
    assert np.array_equal(backgrounds[0].level_adu, again.level_adu)
    assert np.array_equal(backgrounds[0].spread_adu, again.spread_adu)
    kept = []
    Segmenter.load(tiny_model_path).segment(frame, backgrounds=kept)
    assert kept == []  # a whole-frame normalisation measures no row background


class SigmaModel:
    """A stand-in network: cluster probability z / 20 of each pixel's significance z, the rest background."""

    layers = ()

    def __init__(self, normalisation_card: dict):
        self.normalisation = normalisation_card

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        cluster = np.clip(normalisation.unstretch(batch[..., 0], self.normalisation) / 20.0, 0.0, 1.0)
        return np.stack([1.0 - cluster, 0 * cluster, 0 * cluster, cluster], axis=-1).astype(np.float32)


def test_skipper_rules_give_the_same_classes_in_tiles_as_on_the_whole_frame():
    from ccdseg.core.classes import CLUSTER
    from ccdseg.model.training import SKIPPER_DECISION
    from ccdseg.simulate.detector import DAMIC_M
    from ccdseg.simulate.skipper import simulate_skipper_frame

    frame = simulate_skipper_frame(np.random.default_rng(4), DAMIC_M, (256, 384)).image
    rows = {"method": "row-asinh", "asinh_scale": 50.0}
    classes = {}
    for name, decision in (("grown", SKIPPER_DECISION), ("plain", {**SKIPPER_DECISION, "edge_likelihood_ratio": None})):
        model = Segmenter(SigmaModel(rows), {"depth": 2, "decision": decision, "normalisation": rows})
        classes[name] = model.classes(frame), model.segment(frame, tile_px=128, margin_px=16)
        assert np.array_equal(classes[name][0], classes[name][1])
    for way in (0, 1):  # the whole frame, and in tiles
        grown, plain = classes["grown"][way] == CLUSTER, classes["plain"][way] == CLUSTER
        assert np.all(grown[plain]) and grown.sum() > plain.sum()
