"""Augmentation (ccdseg/model/augment.py): frames and labels move together, stay physical and reproducible."""
import numpy as np
import pytest
from scipy import ndimage

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.model import augment

PEDESTAL_ADU = 8800.0
STEP_ADU = 1000.0


def _frames(seed: int, n: int = 4, shape: tuple[int, int] = (48, 48)) -> tuple[np.ndarray, np.ndarray]:
    """Frames whose class can be read back from the pixel value: pedestal + 1000 ADU x class + noise."""
    rng = np.random.default_rng(seed)
    height, width = shape
    truth = np.zeros((n, height, width), dtype=np.uint8)
    for i in range(n):
        truth[i, :, : int(rng.integers(3, 10))] = GLOWING
        truth[i, int(rng.integers(height)), 5 : width - 5] = HOT_PIXEL
        truth[i, 2 : height - 2, int(rng.integers(12, width))] = HOT_PIXEL
        top, left = rng.integers(0, height - 4), rng.integers(0, width - 4)
        truth[i, top : top + 4, left : left + 4] = CLUSTER
    noise = rng.normal(0.0, 19.0, truth.shape)
    images = (PEDESTAL_ADU + STEP_ADU * truth + noise).astype(np.float32)
    return images, truth


def _class_of_value(images: np.ndarray) -> np.ndarray:
    return np.rint((images - PEDESTAL_ADU) / STEP_ADU).astype(np.uint8)


def _segment_frames(n: int = 3, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Frames holding only well separated hot-pixel segments, some touching an edge."""
    truth = np.zeros((n, size, size), dtype=np.uint8)
    truth[:, 5:40, 10] = HOT_PIXEL
    truth[:, 20:, 30] = HOT_PIXEL
    truth[:, 50, :25] = HOT_PIXEL
    truth[:, 0, 40:60] = HOT_PIXEL
    truth[:, 12:30, size - 1] = HOT_PIXEL
    images = (PEDESTAL_ADU + 2200.0 * (truth == HOT_PIXEL)).astype(np.float32)
    return images, truth


def _dihedral(frame: np.ndarray) -> list[np.ndarray]:
    turns = [np.rot90(frame, k) for k in range(4)]
    return turns + [t[:, ::-1] for t in turns]


def test_shapes_and_dtypes_are_kept_for_square_and_oblong_frames():
    for shape in ((48, 48), (32, 56)):
        images, truth = _frames(1, n=3, shape=shape)
        new_images, new_truth = augment.augment(images, truth, seed=0)
        assert new_images.shape == images.shape and new_images.dtype == np.float32
        assert new_truth.shape == truth.shape and new_truth.dtype == np.uint8


def test_labels_stay_class_ids_and_gain_no_new_values():
    images, truth = _frames(2)
    for border in augment.BORDERS:
        for zoom in (0.0, 0.15):
            _, new_truth = augment.augment(images, truth, seed=3, zoom=zoom, border=border)
            for before, after in zip(truth, new_truth):
                assert set(np.unique(after)) <= set(np.unique(before)) | {BACKGROUND}


def test_flips_and_rotations_keep_class_pixel_counts_and_move_image_and_label_alike():
    images, truth = _frames(3, n=6)
    new_images, new_truth = augment.augment(images, truth, seed=5, max_shift_px=0)
    used = set()
    for image, labels, new_image, new_labels in zip(images, truth, new_images, new_truth):
        assert np.array_equal(np.bincount(new_labels.ravel(), minlength=4), np.bincount(labels.ravel(), minlength=4))
        matches = [
            k
            for k, (im, lab) in enumerate(zip(_dihedral(image), _dihedral(labels)))
            if np.array_equal(im, new_image) and np.array_equal(lab, new_labels)
        ]
        assert matches, "not a flip or 90-degree rotation of the frame"
        used.update(matches)
    assert len(used) > 1


def test_same_seed_gives_the_same_frames_and_another_seed_does_not():
    images, truth = _frames(4)
    first = augment.augment(images, truth, seed=11, zoom=0.1)
    second = augment.augment(images, truth, seed=11, zoom=0.1)
    other = augment.augment(images, truth, seed=12, zoom=0.1)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])


def test_labels_follow_their_pixels_with_shifts_zoom_and_either_border():
    images, truth = _frames(5)
    for border in augment.BORDERS:
        for zoom in (0.0, 0.2):
            new_images, new_truth = augment.augment(
                images, truth, seed=7, max_shift_px=12, zoom=zoom, border=border
            )
            assert np.array_equal(_class_of_value(new_images), new_truth)


def test_pixel_values_are_moved_never_blended_or_clipped():
    images, truth = _frames(6)
    new_images, _ = augment.augment(images, truth, seed=8, max_shift_px=10, zoom=0.2)
    for image, new_image in zip(images, new_images):
        assert np.isin(new_image, image).all()
    assert new_images.max() > 1000.0


def test_pedestal_border_fills_with_the_frame_median_labelled_background():
    images, truth = _frames(7, n=3)
    images[:, :, :12] = PEDESTAL_ADU + 3 * STEP_ADU
    truth[:, :, :12] = CLUSTER
    new_images, new_truth = augment.augment(images, truth, seed=2, max_shift_px=12, border="pedestal")
    for image, new_image, new_labels in zip(images, new_images, new_truth):
        filled = ~np.isin(new_image, image)
        assert filled.any()
        assert np.all(new_image[filled] == np.median(image))
        assert np.all(new_labels[filled] == BACKGROUND)


def test_hot_pixel_segments_stay_single_rows_or_columns():
    images, truth = _segment_frames()
    _, new_truth = augment.augment(images, truth, seed=4, max_shift_px=16)
    for labels in new_truth:
        segments, count = ndimage.label(labels == HOT_PIXEL, structure=np.ones((3, 3)))
        assert count >= 3
        for box in ndimage.find_objects(segments):
            height, width = box[0].stop - box[0].start, box[1].stop - box[1].start
            assert min(height, width) == 1


def test_zoomed_hot_pixel_segments_stay_straight_bars():
    images, truth = _segment_frames()
    _, new_truth = augment.augment(images, truth, seed=9, max_shift_px=4, zoom=0.2)
    for labels in new_truth:
        hot = labels == HOT_PIXEL
        segments, _ = ndimage.label(hot, structure=np.ones((3, 3)))
        for box in ndimage.find_objects(segments):
            assert hot[box].all()
            assert min(hot[box].shape) <= 2


def test_inputs_are_left_unchanged():
    images, truth = _frames(8)
    images_copy, truth_copy = images.copy(), truth.copy()
    augment.augment(images, truth, seed=1, zoom=0.1, border="pedestal")
    assert np.array_equal(images, images_copy) and np.array_equal(truth, truth_copy)


def test_bad_inputs_raise_user_input_error():
    images, truth = _frames(9, n=2)
    bad_truth = truth.copy()
    bad_truth[0, 0, 0] = 4
    with pytest.raises(UserInputError, match="class ids"):
        augment.augment(images, bad_truth, seed=0)
    with pytest.raises(UserInputError, match="shape"):
        augment.augment(images[0], truth[0], seed=0)
    with pytest.raises(UserInputError, match="differs"):
        augment.augment(images, truth[:1], seed=0)
    with pytest.raises(UserInputError, match="border"):
        augment.augment(images, truth, seed=0, border="wrap")
    with pytest.raises(UserInputError, match="zoom"):
        augment.augment(images, truth, seed=0, zoom=0.7)


def test_augmented_copies_follow_the_original_frames():
    images, truth = _frames(10, n=2)
    all_images, all_truth = augment.add_augmented_copies(images, truth, copies=2, seed=3)
    assert all_images.shape == (6, 48, 48) and all_truth.shape == (6, 48, 48)
    assert np.array_equal(all_images[:2], images) and np.array_equal(all_truth[:2], truth)
    assert np.array_equal(all_images[2:4], augment.augment(images, truth, seed=3)[0])
