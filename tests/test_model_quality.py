"""Regression test of the shipped model against the quality bar, on small seeded test sets."""
import numpy as np
import pytest

import load_model
import mask
import scoring
from image_simulation import simulate_dataset

QUALITY_BAR = {"cluster": 0.85, "hot pixel": 0.98, "glowing": 0.99, "background": 0.99}


@pytest.fixture(scope="module")
def shipped():
    return load_model.load_trained_model()


@pytest.mark.parametrize("layout, seed", [("mixed", 900), ("banded", 901)])
def test_shipped_model_meets_the_quality_bar(shipped, layout, seed):
    images, truth = simulate_dataset(16, seed, layout=layout, progress=False)
    scores = scoring.score_labels(load_model.predict_classes(shipped, images), truth)
    for name, floor in QUALITY_BAR.items():
        assert scores[name]["f1"] >= floor, (layout, name, scores[name])
    rule = scoring.score_labels(mask.rule_labels(images), truth)
    assert scores["cluster"]["f1"] > rule["cluster"]["f1"] + 0.03


def test_shipped_model_is_small_and_has_its_card(shipped):
    assert load_model.DEFAULT_MODEL.stat().st_size < 15 * 2**20
    assert shipped.card["normalisation"]["method"] == "robust-asinh"
    assert shipped.card["test"]["scores"]["cluster"]["f1"] > 0.85


def test_predict_classes_keeps_any_frame_shape(shipped):
    frame = np.random.default_rng(0).normal(8800, 19, (37, 101)).astype(np.float32)
    assert load_model.predict_classes(shipped, frame).shape == (37, 101)
    assert load_model.predict_classes(shipped, np.stack([frame, frame])).shape == (2, 37, 101)
