"""Particle deposits in electrons (ccdseg/simulate/deposits.py): energy to electrons, diffusion, track shapes."""
import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.core.physics import EV_PER_ELECTRON, FANO_FACTOR
from ccdseg.simulate import deposits


def test_electrons_follow_the_pair_energy_and_the_fano_factor():
    rng = np.random.default_rng(0)
    counts = np.array([deposits.electrons_from_energy(rng, 5900.0) for _ in range(4000)])
    mean = 5900.0 / EV_PER_ELECTRON
    assert counts.mean() == pytest.approx(mean, rel=0.002)
    assert counts.std() == pytest.approx(np.sqrt(FANO_FACTOR * mean), rel=0.08)


def test_diffusion_grows_from_front_to_back():
    sigma = deposits.diffusion_sigma_px(np.array([0.0, 0.25, 1.0, 2.0]))
    assert sigma[0] == pytest.approx(0.2) and sigma[2] == pytest.approx(1.2) and sigma[3] == pytest.approx(1.2)
    assert np.all(np.diff(sigma[:3]) > 0)


def test_x_rays_hold_their_line_energy_in_a_compact_spot():
    rng = np.random.default_rng(1)
    stamps = [deposits.x_ray(rng) for _ in range(300)]
    energy_kev = np.array([s.sum() for s in stamps]) * EV_PER_ELECTRON / 1e3
    assert np.mean(np.abs(energy_kev - 5.9) < 0.15) > 0.7  # the Mn K-alpha line
    assert np.any(np.abs(energy_kev - 8.04) < 0.15) and np.any(np.abs(energy_kev - 6.49) < 0.15)
    sizes = np.array([np.count_nonzero(s) for s in stamps])
    assert np.percentile(sizes, 10) >= 2 and np.median(sizes) < 40 and all(s.dtype == np.int32 for s in stamps)


def test_muons_are_straight_and_wider_at_the_back():
    """Along a long muon, the charge-weighted spread across the track is clearly larger at one end (the back side)."""
    rng = np.random.default_rng(2)
    ratios = []
    while len(ratios) < 8:
        stamp = deposits.muon(rng).astype(float)
        rows, cols = np.nonzero(stamp)
        weights = stamp[rows, cols]
        points = np.stack([cols, rows], axis=1) - np.average(np.stack([cols, rows], axis=1), axis=0, weights=weights)
        axis = np.linalg.eigh(np.cov(points.T, aweights=weights))[1][:, -1]
        along, across = points @ axis, points @ np.array([-axis[1], axis[0]])
        if np.ptp(along) < 60:
            continue
        ends = [along < np.percentile(along, 15), along > np.percentile(along, 85)]
        spreads = [np.sqrt(np.average(across[e] ** 2, weights=weights[e])) for e in ends]
        ratios.append(max(spreads) / min(spreads))
        assert np.sqrt(np.average(across**2, weights=weights)) < 3.0  # straight: a few pixels wide at most
    assert np.median(ratios) > 1.5


def test_every_kind_is_drawn_with_its_share():
    rng = np.random.default_rng(3)
    stamps = deposits.draw_deposits(rng, 50, {"alpha": 1.0})
    assert len(stamps) == 50 and {kind for kind, _ in stamps} == {"alpha"}
    assert min(s.sum() for _, s in stamps) * EV_PER_ELECTRON > 2.5e6
    with pytest.raises(UserInputError, match="unknown deposit kinds"):
        deposits.draw_deposits(rng, 1, {"neutrino": 1.0})


def test_render_path_keeps_the_charge_of_a_long_track():
    x = np.linspace(0.0, 300.0, 900)
    expected = deposits.render_path(x, 0.3 * x, np.full(900, 1 / 900), np.linspace(0.2, 1.2, 900))
    assert expected.sum() == pytest.approx(1.0, rel=1e-3) and expected.shape[1] > 300
