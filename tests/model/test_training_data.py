"""Training data (ccdseg/model/training_data.py): targets, loss weights per pixel, the tf.data batches."""
import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.model import training_data


def test_threshold_labels_option_and_bad_options():
    images = np.full((1, 8, 8), 8800.0, np.float32)
    images[0, 2, 2] += 1000
    targets = training_data.make_targets(images, np.zeros((1, 8, 8), np.uint8), "thresholds")
    assert targets[0, 2, 2] == 3 and targets.sum() == 3
    with pytest.raises(UserInputError):
        training_data.make_targets(images, images.astype(np.uint8), "guess")


def test_overlap_weights_emphasise_clusters_on_glowing_regions_only():
    targets = np.zeros((2, 30, 30), np.uint8)
    targets[0, :, :8] = 1
    targets[0, 4, 5] = 3  # on the glowing block
    targets[0, 20, 25] = 3  # far from it
    targets[1, 10, 10] = 3
    weights = training_data.overlap_weights(targets, weight=7.0, radius_px=3)
    assert weights.shape == targets.shape and weights.dtype == np.float32
    assert weights[0, 4, 5] == 7.0
    assert weights[0, 20, 25] == 1.0 and weights[1, 10, 10] == 1.0
    assert np.count_nonzero(weights != 1.0) == 1


def test_training_batches_carry_pixel_weights():
    x = np.zeros((3, 16, 16, 2), np.float32)
    x[..., 1] = 7.0
    y = np.zeros((3, 16, 16), np.uint8)
    y[:, 2, 3] = 3
    w = np.ones((3, 16, 16), np.float32)
    w[:, 2, 3] = 5.0
    images, targets, weights = next(iter(training_data.training_dataset(x, y, 3, 0, w)))
    assert images.shape == (3, 16, 16, 2) and targets.shape == (3, 16, 16, 4)
    assert np.all(np.asarray(images)[..., 1] == 7.0)
    cluster = np.asarray(targets)[..., 3] == 1
    assert np.all(np.asarray(weights)[cluster] == 5.0) and np.all(np.asarray(weights)[~cluster] == 1.0)


def test_small_clusters_count_more_and_large_ones_do_not():
    targets = np.zeros((1, 20, 20), np.uint8)
    targets[0, 2, 2:4] = 3  # 2 px: small
    targets[0, 10:14, 10:14] = 3  # 16 px: large
    weights = training_data.small_cluster_weights(targets, weight=5.0, max_px=6)
    assert weights[0, 2, 2] == weights[0, 2, 3] == 5.0
    assert np.all(weights[0, 10:14, 10:14] == 1.0) and np.count_nonzero(weights != 1.0) == 2


def test_missing_data_set_is_simulated_saved_and_then_loaded(tmp_path, capsys):
    images, truth, provenance = training_data.load_or_simulate(tmp_path, "training", 2, seed=4)
    assert images.shape == truth.shape == (2, 256, 256) and provenance["simulated"] and provenance["seed"] == 4
    assert "simulating 2 damic-2020 mixed frames" in capsys.readouterr().out
    loaded, loaded_truth, provenance = training_data.load_or_simulate(tmp_path, "training", 5, seed=9)
    assert np.array_equal(loaded, images) and np.array_equal(loaded_truth, truth)
    assert provenance == {"simulated": False, "count": 2, "path": str(tmp_path / "training")}


def test_validation_split_is_seeded_and_disjoint():
    fit, val = training_data.split_validation(20, 0.2, seed=3)
    assert len(val) == 4 and sorted(np.concatenate([fit, val])) == list(range(20))
    again = training_data.split_validation(20, 0.2, seed=3)
    assert np.array_equal(again[0], fit) and np.array_equal(again[1], val)
    assert [len(part) for part in training_data.split_validation(1, 0.2, seed=3)] == [1, 0]
