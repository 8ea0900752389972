"""Data sets on disk (ccdseg/io/arrays.py): .npy pairs, PNG folders, written safely and recognised when unchanged."""
import cv2
import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.io import arrays


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
    frames = np.random.default_rng(0).integers(8000, 12000, (3, 20, 30)).astype(np.uint16)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), frame)
    loaded = arrays.load_images(tmp_path)
    assert loaded.shape == (3, 20, 30) and np.array_equal(loaded, frames.astype(np.float32))
    with pytest.raises(UserInputError):
        arrays.load_images(tmp_path / "missing")


def test_saved_data_set_loads_back_is_recognised_and_is_not_overwritten(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.normal(8800.0, 19.0, (2, 16, 24)).astype(np.float32)
    truth = rng.integers(0, 4, (2, 16, 24)).astype(np.uint8)
    written = arrays.save_dataset(images, truth, tmp_path, "test", png=True)
    assert [p.name for p in written[:2]] == ["test_data.npy", "test_truth.npy"] and len(written) == 2 + 2 * 2
    loaded_images, loaded_truth = arrays.load_npy_pair(tmp_path, "test")
    assert np.array_equal(loaded_images, images) and np.array_equal(loaded_truth, truth)
    assert arrays.holds_dataset(tmp_path, "test", images, truth)
    assert not arrays.holds_dataset(tmp_path, "test", images + 1, truth)
    assert not arrays.holds_dataset(tmp_path, "other", images, truth)
    with pytest.raises(UserInputError, match="exists"):
        arrays.save_dataset(images, truth, tmp_path, "test")
    assert np.array_equal(arrays.load_frames(tmp_path / "test_data.npy"), images)
    assert np.array_equal(arrays.load_truth(tmp_path / "test_truth.npy", images.shape), truth)
