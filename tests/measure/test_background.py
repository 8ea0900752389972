"""Pedestal and noise of a frame (ccdseg/measure/background.py)."""
import numpy as np

from ccdseg.measure import background
from ccdseg.simulate import parameters
from ccdseg.simulate.frame import simulate_frame


def test_background_estimate_is_not_pulled_by_glowing_columns(library):
    params = parameters.SimulationParameters(glowing_probability=1.0, glowing_width_px=(60, 61))
    rng = np.random.default_rng(21)
    frames = np.stack([simulate_frame(rng, params, library=library).image for _ in range(4)])
    frames[0, :5, :5] = np.nan
    pedestal, sigma = background.robust_background(frames)
    assert pedestal.shape == (4, 1, 1)
    assert np.all(np.abs(pedestal - params.pedestal_adu) < 1.5)
    assert np.all(np.abs(sigma - params.noise_sigma_adu) < 1.0)


def test_row_background_in_both_regimes():
    """CCD frames: pedestal and noise per row; skipper frames: pedestal plus dark current, spread with its Poisson part."""
    import numpy as np
    import pytest

    from ccdseg.measure.background import frame_background, single_electrons
    from ccdseg.simulate.detector import DAMIC_M
    from ccdseg.simulate.frame import simulate_frame
    from ccdseg.simulate.skipper import simulate_skipper_frame

    ccd = simulate_frame(np.random.default_rng(1), None, "mixed", (256, 256))
    background = frame_background(ccd.image)
    assert single_electrons(ccd.image) is None and background.gain_adu_per_electron is None and background.fit is None
    assert np.abs(background.level_adu - 8800.0).max() < 0.3 * ccd.params.noise_sigma_adu
    assert np.median(background.spread_adu) == pytest.approx(ccd.params.noise_sigma_adu, rel=0.05)
    skipper = simulate_skipper_frame(np.random.default_rng(2), DAMIC_M, (320, 640))
    background = frame_background(skipper.image)
    gain, lam = DAMIC_M.gain_adu_per_electron, DAMIC_M.dark_current_profile(320)
    assert background.gain_adu_per_electron == pytest.approx(gain, rel=0.01) and background.fit is not None
    level = DAMIC_M.pedestal_profile(320) + gain * lam
    assert np.median(np.abs(background.level_adu - level)) < 0.1 * gain
    spread = gain * np.sqrt(DAMIC_M.noise_electrons**2 + lam)
    assert np.median(background.spread_adu / spread) == pytest.approx(1.0, abs=0.1)


def test_a_frame_without_background_is_untrusted_not_an_error():
    import numpy as np

    from ccdseg.measure.background import frame_background

    flat = frame_background(np.full((64, 64), 7.0, np.float32))
    assert not flat.trusted and "no background found" in flat.note and np.all(flat.spread_adu > 0)


def test_glowing_blocks_are_not_taken_for_electron_peaks():
    """A 2020 frame whose glow sits a few noise sigmas above the pedestal shows no comb of electrons."""
    import numpy as np

    from ccdseg.measure.background import single_electrons
    from ccdseg.simulate.frame import simulate_frame
    from ccdseg.simulate.parameters import random_parameters

    rng = np.random.default_rng(0)
    assert all(single_electrons(simulate_frame(rng, random_parameters(rng), "mixed", (256, 256)).image) is None
               for _ in range(20))
