"""Physical constants of silicon CCDs (ccdseg/core/physics.py): the values silicon has, in the units their names say."""
from ccdseg.core import physics


def test_pair_creation_energy_and_fano_factor_are_those_of_silicon():
    assert 3.6 <= physics.EV_PER_ELECTRON <= 3.8  # eV per electron-hole pair, cold silicon
    assert 0.10 <= physics.FANO_FACTOR <= 0.13


def test_a_minimum_ionising_particle_crossing_the_ccd_leaves_tens_of_thousands_of_electrons():
    electrons = physics.MIP_ELECTRONS_PER_UM * physics.THICKNESS_UM
    assert 3e4 < electrons < 8e4
    assert 10 < physics.THICKNESS_UM / physics.PIXEL_SIZE_UM < 100  # tens of pixels thick
    front_px, back_px = physics.DIFFUSION_SIGMA_PX
    assert 0 < front_px < back_px < 2  # charge made far from the pixels spreads more
