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
