"""What counts as a frame and a truth map (ccdseg/core/checks.py): one set of rules, messages naming the source."""
import numpy as np
import pytest

from ccdseg.core import checks
from ccdseg.core.errors import UserInputError


def test_a_frame_becomes_a_float32_stack_and_keeps_its_nan_pixels():
    frame = np.arange(20 * 30, dtype=np.int32).reshape(20, 30)
    stack = checks.check_frames(frame)
    assert stack.shape == (1, 20, 30) and stack.dtype == np.float32 and np.array_equal(stack[0], frame)
    with_nan = np.full((2, 16, 16), 8800.0)
    with_nan[1, 3, 4] = np.nan
    assert np.isnan(checks.check_frames(with_nan)[1, 3, 4])


@pytest.mark.parametrize("frames, message", [
    (np.zeros((2, 15, 40)), "too small"),
    (np.zeros((2, 3, 16, 16)), "expected a frame"),
    (np.zeros((0, 16, 16)), "no frame"),
    (np.zeros((16, 16), np.complex64), "not real numbers"),
    (np.array([["a"] * 16] * 16), "not real numbers"),
    (np.stack([np.zeros((16, 16)), np.full((16, 16), np.inf)]), "frame 1 has only NaN or infinite"),
])
def test_frames_that_are_not_frames_are_refused_naming_the_source(frames, message):
    with pytest.raises(UserInputError, match=message) as info:
        checks.check_frames(frames, "run7.npy")
    assert str(info.value).startswith("run7.npy: ") and "\n" not in str(info.value)
    assert checks.MIN_FRAME_PX == 16


def test_truth_is_whole_class_ids_of_the_frames_shape():
    truth = checks.check_truth(np.array([[0.0, 1.0], [2.0, 3.0]]), (1, 2, 2))
    assert truth.dtype == np.uint8 and truth.shape == (1, 2, 2) and truth.tolist() == [[[0, 1], [2, 3]]]
    for bad, message in ((np.full((2, 2), 2.7), "whole numbers"), (np.full((2, 2), 4), "0..3"),
                         (np.full((2, 2), -1), "0..3"), (np.full((2, 2), 259), "0..3")):
        with pytest.raises(UserInputError, match=message):
            checks.check_truth(bad, source="truth.npy")
    with pytest.raises(UserInputError, match="differs from the frames'"):
        checks.check_truth(np.zeros((2, 3), np.uint8), (1, 2, 2))


def test_monochrome_takes_the_mean_of_colour_channels():
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 2] = 30, 60
    assert np.allclose(checks.get_monochrome(rgb), 30.0)
    assert checks.get_monochrome(np.ones((4, 5, 1))).shape == (4, 5)
    grey = np.ones((2, 4, 5), np.float32)
    assert checks.get_monochrome(grey) is grey
