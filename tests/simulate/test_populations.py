"""Held-out populations (simulate/populations.py): reproducible frames, exact truth, other physics, small clusters."""
import numpy as np
import pytest

from ccdseg.core.classes import CLUSTER, HOT_PIXEL
from ccdseg.simulate.cluster_library import BRIGHT_MIXTURE, make_cluster_library
from ccdseg.core.errors import UserInputError
from ccdseg.simulate.parameters import SimulationParameters
from ccdseg.simulate import populations

SHAPE = (96, 96)


@pytest.mark.parametrize("name", sorted(populations.POPULATIONS))
def test_same_seed_same_frames_other_seed_other_frames(name):
    a = populations.simulate_population(name, 2, seed=3, shape=SHAPE)
    b = populations.simulate_population(name, 2, seed=3, shape=SHAPE)
    c = populations.simulate_population(name, 2, seed=4, shape=SHAPE)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0][0], a[0][1])  # frames within one call differ too


@pytest.mark.parametrize("name", sorted(populations.POPULATIONS))
def test_shapes_and_dtypes(name):
    images, truth, cluster_adu = populations.simulate_population(name, 3, seed=0, shape=(40, 70))
    assert images.shape == truth.shape == cluster_adu.shape == (3, 40, 70)
    assert images.dtype == np.float32 and truth.dtype == np.uint8 and cluster_adu.dtype == np.float32


@pytest.mark.parametrize("name", ["other-clusters", "both"])
def test_truth_follows_the_cluster_threshold_rule(name):
    _, truth, cluster_adu = populations.simulate_population(name, 6, seed=11, shape=(128, 128))
    params = populations.population_parameters(name, 6, seed=11)
    assert (truth == CLUSTER).any()
    for frame_truth, frame_adu, p in zip(truth, cluster_adu, params):
        above = (frame_adu > 0) & (frame_adu >= p.cluster_threshold_adu)
        assert np.all(above[frame_truth == CLUSTER])
        assert np.all(frame_truth[above & (frame_truth != HOT_PIXEL)] == CLUSTER)


def test_population_parameters_are_the_frames_physics():
    images, truth, _ = populations.simulate_population("other-physics", 4, seed=5, shape=SHAPE)
    for image, frame_truth, p in zip(images, truth, populations.population_parameters("other-physics", 4, seed=5)):
        dark_adu = p.dark_current_e_per_pixel_day * p.exposure_s / 86400 * p.gain_adu_per_electron
        median_adu = np.median(image[frame_truth == 0])
        assert abs(median_adu - p.pedestal_adu - dark_adu) < 0.5 * p.noise_sigma_adu + p.gain_adu_per_electron


def test_other_physics_lies_outside_the_training_ranges():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = populations.other_physics(rng)
        assert isinstance(p, SimulationParameters) and p.binning == 1
        assert not 500.0 <= p.pedestal_adu <= 30000.0
        assert not 10.0 <= p.noise_sigma_adu <= 35.0
        assert not 120.0 <= p.adu_per_charge_unit <= 300.0
        assert not 1000.0 <= p.hot_pixel_adu <= 4500.0
        assert p.pedestal_adu >= 5 * p.noise_sigma_adu - 1e-6 and p.noise_sigma_adu > 0  # plausible raw frame
        assert p.dark_current_e_per_pixel_day > 0 and 0.0 <= p.cti <= 1e-5


def test_other_library_is_mostly_small_faint_clusters_unlike_the_bright_library():
    default = SimulationParameters()
    one_sigma_units = default.noise_sigma_adu / default.adu_per_charge_unit

    def small_share(library):
        charge_adu = np.array([s.sum() for s in library]) * default.adu_per_charge_unit
        pixels = np.array([np.count_nonzero(s >= one_sigma_units) for s in library])
        return np.mean(charge_adu < 1000), np.mean(pixels <= 6)

    other_faint, other_few = small_share(populations.other_cluster_library(400, seed=1))
    ours_faint, ours_few = small_share(make_cluster_library(803, 0, BRIGHT_MIXTURE))
    assert other_faint > 0.4 and other_few > 0.4
    assert ours_faint < 0.1 and ours_few < 0.1
    stamps = populations.other_cluster_library(50, seed=2)
    assert all(s.ndim == 2 and s.dtype == np.float32 and s.min() >= 0 and s.sum() > 0 for s in stamps)


def test_other_clusters_population_has_many_small_clusters_in_frames():
    stats = populations.population_statistics("other-clusters", seed=0, count=6)
    reference = populations.population_statistics(populations.REFERENCE, seed=0, count=6)
    assert stats["clusters"] > 20
    assert stats["fraction_below_1000_adu"] > 0.3 and stats["fraction_1_to_6_px"] > 0.3
    assert stats["charge_adu"][50] < reference["charge_adu"][50]
    assert stats["size_px"][50] < reference["size_px"][50]


def test_cluster_properties_counts_connected_regions():
    truth = np.zeros((1, 8, 8), dtype=np.uint8)
    adu = np.zeros((1, 8, 8), dtype=np.float32)
    truth[0, 1, 1] = truth[0, 2, 2] = CLUSTER  # diagonal neighbours: one region
    adu[0, 1, 1], adu[0, 2, 2] = 50.0, 70.0
    truth[0, 6, 4:7] = CLUSTER
    adu[0, 6, 4:7] = 10.0
    adu[0, 0, 7] = 99.0  # charge outside any truth region is not counted
    charge, size = populations.cluster_properties(truth, adu)
    assert sorted(zip(size.tolist(), charge.tolist())) == [(2, 120.0), (3, 30.0)]


def test_unknown_population_raises_user_input_error_listing_names():
    with pytest.raises(UserInputError) as info:
        populations.simulate_population("muons-only", 1, seed=0)
    assert all(name in str(info.value) for name in populations.POPULATIONS)
    with pytest.raises(UserInputError):
        populations.population_statistics("nope")
    with pytest.raises(UserInputError):
        populations.simulate_population("both", 0, seed=0)
