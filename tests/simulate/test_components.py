"""The physical components of a simulated frame (ccdseg/simulate/components.py): binning, CTI, dark current."""
import numpy as np
import pytest

from ccdseg.simulate import components, parameters
from ccdseg.simulate.frame import simulate_frame


def test_binning_sums_charge_into_blocks():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert components.reduce_image(image, 2).tolist() == [[10, 18], [42, 50]]
    params = parameters.SimulationParameters(binning=2)
    frame = simulate_frame(np.random.default_rng(2), params, shape=(64, 64))
    assert frame.image.shape == (64, 64)


def test_charge_transfer_losses_remove_charge_far_from_amplifier():
    params = parameters.SimulationParameters(cti=1e-3)
    charge = np.full((200, 200), 2000.0, np.float32)
    kept = components.charge_transfer_losses(charge, params, np.random.default_rng(0))
    assert kept[:10, :10].mean() > kept[-10:, -10:].mean()
    assert kept[-10:, -10:].mean() == pytest.approx(2000.0 * (1 - 1e-3) ** 400, rel=0.05)


def test_dark_current_is_poisson_in_electrons():
    params = parameters.SimulationParameters(dark_current_e_per_pixel_day=2.0, exposure_s=86400.0)
    dark = components.dark_current((300, 300), params, np.random.default_rng(0))
    electrons = dark / params.gain_adu_per_electron
    assert np.allclose(electrons, np.rint(electrons))
    assert electrons.mean() == pytest.approx(2.0, rel=0.03)
    assert electrons.var() == pytest.approx(2.0, rel=0.08)
