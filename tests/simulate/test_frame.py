"""One simulated frame (ccdseg/simulate/frame.py): shapes, seeds, background, truth priority, layouts, counts."""
import numpy as np

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.simulate import parameters
from ccdseg.simulate.frame import simulate_frame, truth_classes


def test_frame_has_requested_shape_and_dtypes(library):
    frame = simulate_frame(np.random.default_rng(0), shape=(100, 300), library=library)
    assert frame.image.shape == (100, 300) and frame.image.dtype == np.float32
    assert frame.truth.shape == (100, 300) and frame.truth.dtype == np.uint8
    assert set(np.unique(frame.truth)) <= {BACKGROUND, GLOWING, HOT_PIXEL, CLUSTER}


def test_same_seed_same_frame_other_seed_other_frame(library):
    a = simulate_frame(np.random.default_rng(5), library=library)
    b = simulate_frame(np.random.default_rng(5), library=library)
    c = simulate_frame(np.random.default_rng(6), library=library)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.truth, b.truth)
    assert not np.array_equal(a.image, c.image)


def test_background_statistics_match_pedestal_and_noise(library):
    params = parameters.SimulationParameters()
    frame = simulate_frame(np.random.default_rng(1), params, library=library)
    background = frame.image[frame.truth == BACKGROUND] - params.pedestal_adu
    assert abs(np.median(background)) < 2.0
    assert abs(np.std(background[np.abs(background) < 100]) - params.noise_sigma_adu) < 1.5


def test_truth_priority_hot_over_cluster_over_glowing():
    glowing = np.zeros((4, 4), bool)
    glowing[:, :2] = True
    hot = np.zeros((4, 4), bool)
    hot[0, :] = True
    cluster = np.zeros((4, 4), np.float32)
    cluster[:2, 1:3] = 50.0
    truth = truth_classes(glowing, hot, cluster, threshold_adu=19.0)
    assert truth[0, 0] == HOT_PIXEL and truth[0, 3] == HOT_PIXEL
    assert truth[1, 1] == CLUSTER and truth[1, 2] == CLUSTER
    assert truth[1, 0] == GLOWING and truth[3, 3] == BACKGROUND


def test_cluster_truth_needs_charge_of_one_noise_sigma():
    cluster = np.array([[0.0, 10.0, 19.0, 25.0]], np.float32)
    empty = np.zeros_like(cluster, dtype=bool)
    truth = truth_classes(empty, empty, cluster, threshold_adu=19.0)
    assert truth.tolist() == [[BACKGROUND, BACKGROUND, CLUSTER, CLUSTER]]


def test_banded_layout_keeps_objects_in_their_columns(library):
    rng = np.random.default_rng(3)
    for _ in range(5):
        truth = simulate_frame(rng, layout="banded", library=library).truth
        cols_hot = np.nonzero(truth == HOT_PIXEL)[1]
        cols_cluster = np.nonzero(truth == CLUSTER)[1]
        cols_glow = np.nonzero(truth == GLOWING)[1]
        assert cols_hot.size == 0 or (cols_hot.min() >= 66 and cols_hot.max() < 144)
        assert cols_cluster.size == 0 or cols_cluster.min() >= 144
        assert cols_glow.size == 0 or cols_glow.max() < 66


def test_object_counts_scale_with_area(library):
    rng = np.random.default_rng(4)
    small = np.mean([(simulate_frame(rng, library=library).truth == CLUSTER).sum() for _ in range(8)])
    big = np.mean([(simulate_frame(rng, shape=(512, 512), library=library).truth == CLUSTER).sum() for _ in range(8)])
    assert 2.5 < big / small < 6.0
