"""Threshold labels, one-hot masks, colours, statistics and scoring."""
import numpy as np
import pytest

import image_details as details
import mask
from ccdseg.measure import background
from ccdseg.core import classes
from ccdseg.simulate import cluster_library
from ccdseg.core import errors
from ccdseg.simulate.frame import Frame, simulate_frame
from ccdseg.plots import labels
from ccdseg.simulate import parameters
from ccdseg.core import scoring
from ccdseg.simulate import thresholds


@pytest.fixture(scope="module")
def library():
    return cluster_library.load_cluster_library()


def test_thresholds_reproduce_truth_on_noise_free_frames(library):
    params = parameters.noise_free()
    rng = np.random.default_rng(11)
    for layout in ("banded", "mixed"):
        for _ in range(4):
            frame = simulate_frame(rng, params, layout=layout, library=library)
            labels = thresholds.get_class(frame.image, params)
            wrong = labels != frame.truth
            if layout == "banded":
                # only a cluster pixel whose charge falls inside the glowing or hot band can differ
                glow_lo, glow_hi = params.glowing_adu
                c = frame.cluster_adu
                in_band = ((c >= glow_lo) & (c <= glow_hi)) | (c == params.hot_pixel_adu)
                assert not np.any(wrong & ~in_band)
            else:
                # overlaps can only blur pixels that hold cluster charge
                assert not np.any(wrong & (frame.cluster_adu == 0))
                assert wrong.mean() < 0.02


def test_thresholds_follow_simulation_parameters(library):
    params = parameters.noise_free(parameters.SimulationParameters(pedestal_adu=1000.0, hot_pixel_adu=5000.0, glowing_adu=(300.0, 320.0)))
    frame = simulate_frame(np.random.default_rng(12), params, layout="banded", library=library)
    labels = thresholds.get_class(frame.image, params)
    assert (labels == frame.truth).mean() > 0.999


def test_mask_is_one_hot_and_argmax_inverts_it():
    ids = np.random.default_rng(0).integers(0, 4, (3, 8, 9)).astype(np.uint8)
    one_hot = classes.to_one_hot(ids)
    assert one_hot.shape == (3, 8, 9, 4) and np.all(one_hot.sum(-1) == 1)
    assert np.array_equal(classes.get_max_in_mask(one_hot), ids)
    images = np.full((2, 5, 5), 8800.0, np.float32)
    assert thresholds.get_mask(images).shape == (2, 5, 5, 4)


def test_colours_names_and_one_object_labels():
    ids = np.array([[0, 1], [2, 3]], np.uint8)
    rgb = classes.mask_to_label(ids)
    assert np.allclose(rgb[1, 1], (1.0, 0.2, 0.2)) and np.allclose(rgb[0, 1], (0.35, 1.0, 0.25))
    only = labels.mask_to_label_one_object(ids, "hot pixel")
    assert np.allclose(only[1, 0], (0.0, 0.5, 1.0)) and np.allclose(only[1, 1], 0)
    assert classes.class_id("hot_pixel") == classes.HOT_PIXEL and classes.class_id("Cluster") == classes.CLUSTER
    with pytest.raises(errors.UserInputError):
        classes.class_id("muon")


def test_statistics_and_percentages():
    ids = np.array([0, 0, 0, 1, 3, 3, 3, 3], np.uint8)
    assert classes.statistics(ids).tolist() == [3, 1, 0, 4]
    assert classes.get_percentages(ids).tolist() == [37.5, 12.5, 0.0, 50.0]
    probabilities = classes.to_one_hot(ids) * 0.7 + 0.075
    assert classes.get_percentages(probabilities).tolist() == [37.5, 12.5, 0.0, 50.0]


def test_scores_agree_with_scikit_learn():
    from sklearn.metrics import precision_recall_fscore_support

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, 5000).astype(np.uint8)
    prediction = np.where(rng.uniform(size=5000) < 0.7, truth, rng.integers(0, 4, 5000)).astype(np.uint8)
    scores = scoring.score_labels(prediction, truth)
    p, r, f, s = precision_recall_fscore_support(truth, prediction, labels=[0, 1, 2, 3])
    for cid, name in enumerate(classes.CLASS_NAMES):
        assert scores[name]["precision"] == pytest.approx(p[cid])
        assert scores[name]["recall"] == pytest.approx(r[cid])
        assert scores[name]["f1"] == pytest.approx(f[cid])
        assert scores[name]["support"] == s[cid]
    assert "hot pixel" in scoring.classification_report(prediction, truth)


def test_labelling_is_vectorised_fast(library):
    images = np.random.default_rng(0).normal(8800, 19, (200, 256, 256)).astype(np.float32)
    import time

    start = time.perf_counter()
    thresholds.get_mask(images)
    assert time.perf_counter() - start < 5.0


def test_visualize_label_writes_png(tmp_path):
    image = np.random.default_rng(0).normal(0, 1, (32, 32))
    ids = np.zeros((32, 32), np.uint8)
    ids[3:9, 3:9] = 3
    path = tmp_path / "figure.png"
    labels.visualize_label(image, ids, classes.to_one_hot(ids), path=path, title="t")
    assert path.stat().st_size > 1000


def test_background_estimate_is_not_pulled_by_glowing_columns(library):
    params = parameters.SimulationParameters(glowing_probability=1.0, glowing_width_px=(60, 61))
    rng = np.random.default_rng(21)
    frames = np.stack([simulate_frame(rng, params, library=library).image for _ in range(4)])
    frames[0, :5, :5] = np.nan
    pedestal, sigma = background.robust_background(frames)
    assert pedestal.shape == (4, 1, 1)
    assert np.all(np.abs(pedestal - params.pedestal_adu) < 1.5)
    assert np.all(np.abs(sigma - params.noise_sigma_adu) < 1.0)


def test_display_reduction_keeps_small_objects_and_priority():
    ids = np.zeros((8, 8), np.uint8)
    ids[0, 0] = classes.CLUSTER
    ids[0, 1] = classes.HOT_PIXEL
    ids[5, 5] = classes.GLOWING
    ids[6, 6] = classes.CLUSTER
    reduced = labels.reduce_for_display(ids, 4, labels=True)
    assert reduced.tolist() == [[classes.HOT_PIXEL, 0], [0, classes.CLUSTER]]
    image = np.zeros((5, 5), np.float32)
    image[4, 4] = 9.0
    assert labels.reduce_for_display(image, 2, labels=False).shape == (3, 3)
    assert labels.reduce_for_display(image, 2, labels=False)[2, 2] == 9.0
