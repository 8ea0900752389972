"""Frames simulated like a measured one (ccdseg/simulate/like_frame.py), and the fit on our own simulated frames."""
import numpy as np
import pytest

from ccdseg.core.classes import BACKGROUND
from ccdseg.core.errors import UserInputError
from ccdseg.measure.frame_fit import fit_frame
from ccdseg.simulate.detector import random_detector
from ccdseg.simulate.like_frame import detector_like
from ccdseg.simulate.skipper import simulate_skipper_frame


@pytest.mark.parametrize("seed", range(6))
def test_fit_recovers_the_simulated_physics_over_the_damic_m_range(seed):
    """Gain within 1 %, noise within 5 %, mean dark current within 5 % of what the frame holds."""
    rng = np.random.default_rng(100 + seed)
    detector = random_detector(rng)
    frame = simulate_skipper_frame(rng, detector, (320, 640))
    fit = fit_frame(frame.image).to_dict()
    assert fit["gain_adu_per_electron"] == pytest.approx(detector.gain_adu_per_electron, rel=0.01)
    assert fit["noise_electrons"] == pytest.approx(detector.noise_electrons, rel=0.05)
    assert fit["dark_current_electrons_per_pixel"] == pytest.approx(detector.dark_current_electrons_per_pixel, rel=0.05)


def electron_fractions(frame, detector, glow_reach_px: float, bands: int = 4) -> np.ndarray:
    """(bands, 4) fractions of background pixels holding 0, 1, 2 and 3 or more electrons, per band of rows.

    Pixels within `glow_reach_px` (row + column) of the readout corner are
    left out: the faint tail of amplifier glow is background by the truth
    rule but not dark current.
    """
    counts = np.rint((frame.image - detector.pedestal_profile(frame.image.shape[0])[:, None])
                     / detector.gain_adu_per_electron)
    keep = frame.truth == BACKGROUND
    keep &= np.add.outer(np.arange(counts.shape[0]), np.arange(counts.shape[1])) > glow_reach_px
    keep[:, 0] = False
    out = []
    for rows in np.array_split(np.arange(frame.image.shape[0]), bands):
        values = counts[rows][keep[rows]]
        out.append([np.mean(values == 0), np.mean(values == 1), np.mean(values == 2), np.mean(values >= 3)])
    return np.array(out), np.array([np.count_nonzero(keep[rows]) for rows in np.array_split(np.arange(len(counts)), bands)])


@pytest.mark.parametrize("seed", (1, 2, 3))
def test_frames_simulated_like_a_frame_hold_as_many_electrons_per_band(seed):
    """Fractions of 0, 1, 2 and 3+ electron pixels per band within 10 % (or 3 binomial errors of the difference of two frames where that is more)."""
    rng = np.random.default_rng(seed)
    measured = simulate_skipper_frame(rng, random_detector(rng), (320, 640))
    detector, fit = detector_like(measured.image)
    like = simulate_skipper_frame(np.random.default_rng(50 + seed), detector, tuple(fit["shape_px"]))
    glow, length = fit["amplifier_glow_electrons"], fit["amplifier_glow_length_px"]
    reach = length * np.log(glow / 0.01) if glow > 0.01 else 0.0
    want, pixels = electron_fractions(measured, measured.params, reach)
    got, _ = electron_fractions(like, detector, reach)
    error = np.sqrt(2 * np.maximum(want * (1 - want), 1e-6) / pixels[:, None])  # both frames' binomial errors
    tolerance = np.where(want >= 0.01, 0.10 * want, 3 * error)
    assert np.all(np.abs(got - want) <= np.maximum(tolerance, 3 * error)), (want, got)


def test_a_frame_without_single_electrons_needs_the_gain():
    rng = np.random.default_rng(9)
    old_kind = rng.normal(8800.0, 19.0, (128, 128))
    with pytest.raises(UserInputError, match="no 1-electron peak found"):
        detector_like(old_kind)
    detector, fit = detector_like(old_kind, gain_adu_per_electron=10.0)
    assert fit["noise_electrons"] == pytest.approx(1.9, rel=0.05) and detector.gain_adu_per_electron == 10.0
