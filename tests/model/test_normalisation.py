"""The network's input (ccdseg/model/normalisation.py): frames standardised, stretched, with a matched filter."""
import numpy as np
import pytest

from ccdseg.model import normalisation


def test_normalisation_ignores_pedestal_and_gain():
    rng = np.random.default_rng(0)
    frame = rng.normal(8800, 19, (64, 64)).astype(np.float32)
    frame[10:14, 10:14] += 500
    a = normalisation.normalise_frames(frame)
    b = normalisation.normalise_frames(frame * 2.5 - 3000)
    assert np.allclose(a, b, rtol=1e-3, atol=1e-2)
    gain = normalisation.NORMALISATION["gain"]
    assert abs(np.median(a)) < 0.05 * gain and np.median(np.abs(a)) == pytest.approx(0.6745 * gain, rel=0.1)


def test_normalisation_survives_nan_and_constant_frames():
    frame = np.full((16, 16), 100.0, np.float32)
    assert np.all(normalisation.normalise_frames(frame) == 0)
    frame[0, 0] = np.nan
    out = normalisation.normalise_frames(frame)
    assert np.all(np.isfinite(out))


def test_matched_normalisation_adds_a_second_channel():
    frame = np.random.default_rng(0).normal(8800, 19, (40, 50)).astype(np.float32)
    one = normalisation.normalise_frames(frame)
    two = normalisation.normalise_frames(frame, normalisation.MATCHED_NORMALISATION)
    assert one.shape == (40, 50, 1) and two.shape == (40, 50, 2)
    assert np.array_equal(one[..., 0], two[..., 0])
    assert normalisation.input_channels(normalisation.MATCHED_NORMALISATION) == 2
