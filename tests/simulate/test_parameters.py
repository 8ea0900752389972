"""The physics of a simulated frame (ccdseg/simulate/parameters.py)."""
import numpy as np
import pytest

from ccdseg.simulate import parameters


def test_noise_sigma_is_the_readout_noise_over_the_root_of_the_samples():
    params = parameters.SimulationParameters()
    assert params.noise_sigma_adu == pytest.approx(60 / np.sqrt(10))
