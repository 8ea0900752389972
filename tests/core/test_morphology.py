"""The OpenCV mask helpers give what scipy.ndimage and numpy give, on random masks of several densities."""
import numpy as np
import pytest
from scipy import ndimage

from ccdseg.core.morphology import components, near, pixels, raster_numbers


def random_mask(seed: int, density: float, shape=(97, 131)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) < density


@pytest.mark.parametrize("density", [0.0, 0.02, 0.3, 0.6])
def test_components_are_the_8_connected_components(density):
    mask = random_mask(1, density)
    count, labels = components(mask)
    expected, n = ndimage.label(mask, structure=np.ones((3, 3)))
    assert count == n + 1
    assert labels.dtype == np.int32 and labels.shape == mask.shape
    assert np.array_equal(labels > 0, mask)
    # the same partition: each scipy component is exactly one OpenCV label and vice versa
    pairs = np.unique(np.stack([expected[mask], labels[mask]]), axis=1)
    assert pairs.shape[1] == n


@pytest.mark.parametrize("density", [0.0, 0.05, 0.5])
def test_pixels_are_the_true_pixels_in_raster_order(density):
    mask = random_mask(2, density)
    rows, cols = pixels(mask)
    expected_rows, expected_cols = np.nonzero(mask)
    assert np.array_equal(rows, expected_rows) and np.array_equal(cols, expected_cols)
    assert rows.dtype == np.int64


def test_raster_numbers_give_scipy_numbering():
    mask = random_mask(3, 0.3)
    count, labels = components(mask)
    rows, cols = pixels(mask)
    number = raster_numbers(labels[rows, cols], count)
    expected, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    assert number[0] == 0
    assert np.array_equal(number[labels], expected)


@pytest.mark.parametrize("radius", [0, 1, 3])
def test_near_is_a_square_dilation(radius):
    mask = random_mask(4, 0.01)
    expected = ndimage.binary_dilation(mask, structure=np.ones((2 * radius + 1,) * 2)) if radius else mask
    assert np.array_equal(near(mask, radius), expected)
