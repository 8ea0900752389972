"""Regression test of the shipped model against the quality bar, on small seeded test sets."""
import numpy as np
import pytest

import load_model
from ccdseg.evaluate.finders import hysteresis_labels, photutils_labels
from ccdseg.simulate.datasets import simulate_dataset
from ccdseg.evaluate.injection import injection_efficiency
from ccdseg.simulate.populations import simulate_population
from ccdseg.core import scoring
from ccdseg.core import paths

QUALITY_BAR = {"cluster": 0.85, "hot pixel": 0.98, "glowing": 0.99, "background": 0.99}
HYSTERESIS = {"seed_sigma": 4.5, "grow_sigma": 1.5}  # as tuned on validation frames by benchmark.py
PHOTUTILS = {"fwhm_px": 1.5, "threshold_sigma": 2.5}


@pytest.fixture(scope="module")
def shipped():
    return load_model.load_trained_model()


@pytest.mark.parametrize("layout, seed", [("mixed", 900), ("banded", 901)])
def test_shipped_model_meets_the_quality_bar(shipped, layout, seed):
    images, truth = simulate_dataset(16, seed, layout=layout, progress=False)
    scores = scoring.score_labels(shipped.classes(images), truth)
    for name, floor in QUALITY_BAR.items():
        assert scores[name]["f1"] >= floor, (layout, name, scores[name])
    rule = scoring.score_labels(hysteresis_labels(images, **HYSTERESIS), truth)
    assert scores["cluster"]["f1"] >= rule["cluster"]["f1"] + 0.02


def test_shipped_model_finds_faint_injected_deposits(shipped):
    result = injection_efficiency(shipped.classes, charges_adu=(300, 500, 800), frames_per_charge=2, blank_count=4,
                                  seed=77)
    efficiency = dict(zip(result["charges_adu"], result["efficiency"]))
    assert efficiency[300] >= 0.55 and efficiency[500] >= 0.9 and efficiency[800] >= 0.97, efficiency
    assert result["fakes_per_frame"] <= 0.5


def test_shipped_model_beats_photutils_on_a_held_out_cluster_population(shipped):
    images, truth, _ = simulate_population("other-clusters", 8, 902)
    model = scoring.score_labels(shipped.classes(images), truth)["cluster"]["f1"]
    photutils = scoring.score_labels(photutils_labels(images, **PHOTUTILS), truth)["cluster"]["f1"]
    assert model > photutils


def test_shipped_model_is_small_and_has_its_card(shipped):
    assert paths.DEFAULT_MODEL.stat().st_size < 15 * 2**20
    assert shipped.card["normalisation"]["method"] == "robust-asinh"
    assert shipped.card["normalisation"]["matched_sigmas_px"] and shipped.card["decision"]["matched_threshold"]
    assert shipped.card["test"]["scores"]["cluster"]["f1"] > 0.85


def test_predict_classes_keeps_any_frame_shape(shipped):
    frame = np.random.default_rng(0).normal(8800, 19, (37, 101)).astype(np.float32)
    assert shipped.classes(frame).shape == (37, 101)
    assert shipped.classes(np.stack([frame, frame])).shape == (2, 37, 101)
