"""Class weights, .npy and PNG loading, labelme import."""
import json

import numpy as np
import pytest

import load_dataset as L
from ccdseg.core.classes import N_CLASSES
from ccdseg.core.errors import UserInputError
from ccdseg.io import arrays
from ccdseg.model import class_weights
from ccdseg.io import labelme


def test_inverse_weights_formula():
    ids = np.array([0] * 90 + [1] * 6 + [2] * 1 + [3] * 3, np.uint8)
    w = class_weights.get_weights(ids)
    f = np.array([0.90, 0.06, 0.01, 0.03])
    expected = (1 / f) * N_CLASSES / (1 / f).sum()
    assert np.allclose(w, expected) and w.sum() == pytest.approx(N_CLASSES)
    sqrt = class_weights.get_weights(ids, "sqrt")
    assert sqrt.sum() == pytest.approx(N_CLASSES) and sqrt[2] / sqrt[0] == pytest.approx(np.sqrt(90))
    assert np.allclose(class_weights.get_weights(ids, "none"), 1)


def test_weights_refuse_absent_class():
    with pytest.raises(UserInputError, match="hot pixel"):
        class_weights.get_weights(np.array([0, 1, 3], np.uint8))


def test_npy_pair_errors_name_the_file(tmp_path):
    with pytest.raises(UserInputError, match="training_data.npy"):
        arrays.load_npy_pair(tmp_path, "training")
    np.save(tmp_path / "training_data.npy", np.zeros((2, 4, 4), np.float32))
    np.save(tmp_path / "training_truth.npy", np.zeros((2, 4, 5), np.uint8))
    with pytest.raises(UserInputError, match="does not match"):
        arrays.load_npy_pair(tmp_path, "training")
    (tmp_path / "training_truth.npy").write_bytes(b"garbage")
    with pytest.raises(UserInputError, match="training_truth.npy"):
        arrays.load_npy_pair(tmp_path, "training")


def test_png_folder_round_trip(tmp_path):
    import cv2

    frames = np.random.default_rng(0).integers(8000, 12000, (3, 20, 30)).astype(np.uint16)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), frame)
    loaded = arrays.load_images(tmp_path)
    assert loaded.shape == (3, 20, 30) and np.array_equal(loaded, frames.astype(np.float32))
    with pytest.raises(UserInputError):
        arrays.load_images(tmp_path / "missing")


def test_labelme_round_trip(tmp_path):
    class_map = np.zeros((40, 50), np.uint8)
    class_map[:, 0:12] = 1
    class_map[20, 15:35] = 2
    class_map[5:11, 30:37] = 3
    class_map[25:31, 40:44] = 3
    path = tmp_path / "frame.json"
    path.write_text(json.dumps(labelme.class_map_to_labelme(class_map)))
    assert np.array_equal(labelme.labelme_to_class_map(path), class_map)


def test_labelme_unknown_label_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"imageHeight": 5, "imageWidth": 5, "shapes": [{"label": "dragon", "points": [[1, 1]], "shape_type": "point"}]}))
    with pytest.raises(UserInputError, match="bad.json"):
        labelme.labelme_to_class_map(path)
