"""The matched filter of a faint point deposit and its local maxima (ccdseg/measure/matched_filter.py)."""
import numpy as np
import pytest
from scipy import ndimage

from ccdseg.measure import matched_filter


def test_matched_filter_is_unit_noise_and_lifts_a_faint_deposit():
    rng = np.random.default_rng(3)
    z = rng.normal(0.0, 1.0, (2, 128, 128)).astype(np.float32)
    significance = matched_filter.matched_filter(z, (0.7,))
    assert np.std(significance) == pytest.approx(1.0, abs=0.08)
    yy, xx = np.mgrid[:128, :128]
    deposit = np.exp(-((yy - 64) ** 2 + (xx - 64) ** 2) / (2 * 1.2**2))
    deposit *= 20.0 / deposit.sum()  # 20 noise sigmas in all, under 3 sigmas in its brightest pixel
    z[0] += deposit.astype(np.float32)
    lifted = matched_filter.matched_filter(z, (0.3, 0.7, 1.2))
    assert deposit.max() < 3 and lifted[0, 62:67, 62:67].max() > 3.5


def test_local_maxima_of_sparse_candidates_match_a_maximum_filter():
    rng = np.random.default_rng(4)
    values = rng.integers(0, 5, (3, 40, 57)).astype(np.float32)  # many ties
    candidates = values >= 3
    expected = candidates & (values >= ndimage.maximum_filter(values, size=(1, 3, 3)))
    assert np.array_equal(matched_filter.local_maxima(values, candidates), expected)
    assert not matched_filter.local_maxima(values, np.zeros_like(candidates)).any()
