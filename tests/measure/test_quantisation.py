"""Frames quantised onto a grid by tile compression, spread back for the calibration (ccdseg/measure/quantisation.py)."""
import numpy as np
import pytest

from ccdseg.measure.background import frame_background, single_electrons
from ccdseg.measure.frame_fit import fit_frame
from ccdseg.io.compression import stored_values
from ccdseg.measure.quantisation import dequantised, row_steps
from ccdseg.evaluate.skipper_targets import skipper_test_frames


def test_rows_on_a_grid_are_told_from_continuous_and_dithered_rows():
    rng = np.random.default_rng(3)
    image = (rng.normal(-37.0, 0.2, (24, 640)) + 1.3 * rng.poisson(1.0, (24, 640))).astype(np.float32)
    quantised = stored_values(image, dither=False)
    steps = row_steps(quantised)
    assert np.all(steps > 0)
    for row, step in zip(quantised, steps):  # every value a whole number of steps from the row's lowest
        multiples = (row.astype(np.float64) - row.min()) / step
        assert np.abs(multiples - np.round(multiples)).max() < 0.01
    assert np.abs(quantised - image).max() <= 0.51 * steps.max()
    assert not row_steps(image).any() and not row_steps(stored_values(image)).any()
    for width in (16, 100, 1536):  # continuous rows of any length, with bright pixels among them
        continuous = rng.normal(0.0, 1.0, (300, width)) * rng.uniform(0.1, 30.0, (300, 1))
        continuous[:, ::7] += rng.exponential(500.0, continuous[:, ::7].shape)
        assert not row_steps(continuous.astype(np.float32)).any()
    assert not row_steps((image + 8800.0).astype(np.float32)).any()  # float32 round-off on a large pedestal is no grid
    assert np.all(row_steps(np.round(image * 10.0)) == pytest.approx(1.0))


def test_dequantised_spreads_values_within_their_step_reproducibly():
    rng = np.random.default_rng(4)
    continuous = rng.normal(0.0, 1.0, (40, 300)).astype(np.float32)
    assert dequantised(continuous) is continuous
    quantised = np.round(continuous * 2.0) / 2.0
    quantised[3, 5] = np.nan
    spread = dequantised(quantised)
    assert spread.dtype == np.float32 and np.isnan(spread[3, 5])
    assert np.array_equal(spread, dequantised(quantised), equal_nan=True)
    finite = np.isfinite(quantised)
    assert np.abs(spread - quantised)[finite].max() <= 0.25 + 1e-6
    assert np.std((spread - quantised)[finite]) == pytest.approx(0.5 / np.sqrt(12.0), rel=0.05)
    assert not row_steps(spread).any()


@pytest.fixture(scope="module")
def grid_frames():
    """Skipper amplifier frames as a `.fz` file without dither stores them (fpack's step, -q 4), with their physics."""
    frames = skipper_test_frames(16, 7101)
    return [(frame, stored_values(frame.image, dither=False)) for frame in frames]


def test_skipper_frames_quantised_without_dither_keep_their_gain(grid_frames):
    """The grid's step reaches a noise sigma; read off fine histograms it was taken for the gain (5 frames of 16)."""
    for frame, quantised in grid_frames:
        resolved, continuous = single_electrons(quantised), single_electrons(frame.image)
        assert resolved is not None and continuous is not None
        assert resolved[0] == pytest.approx(continuous[0], rel=0.02)
        assert resolved[0] == pytest.approx(frame.params.gain_adu_per_electron, rel=0.06)


def test_the_whole_calibration_of_a_quantised_frame_matches_the_continuous_one(grid_frames):
    frame, quantised = grid_frames[5]
    continuous, stored = fit_frame(frame.image).fit, fit_frame(quantised).fit
    assert stored.gain_adu == pytest.approx(continuous.gain_adu, rel=0.02)
    step = np.median(row_steps(quantised))
    assert stored.noise_adu == pytest.approx(np.hypot(continuous.noise_adu, step / np.sqrt(12.0)), rel=0.1)
    background = frame_background(quantised)
    assert background.trusted and background.gain_adu_per_electron == pytest.approx(continuous.gain_adu, rel=0.02)
