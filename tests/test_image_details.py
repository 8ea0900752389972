"""Simulated frames: shapes, seeds, truth priority, cluster library safety and statistics."""
import os
import pickle

import numpy as np
import pytest

import image_details as details
from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.simulate import cluster_library
from ccdseg.simulate import components
from ccdseg.simulate.frame import Frame, simulate_frame, truth_classes
from ccdseg.simulate import parameters


@pytest.fixture(scope="module")
def library():
    return cluster_library.load_cluster_library()


def test_frame_has_requested_shape_and_dtypes(library):
    frame = simulate_frame(np.random.default_rng(0), shape=(100, 300), library=library)
    assert frame.image.shape == (100, 300) and frame.image.dtype == np.float32
    assert frame.truth.shape == (100, 300) and frame.truth.dtype == np.uint8
    assert set(np.unique(frame.truth)) <= {BACKGROUND, GLOWING, HOT_PIXEL, CLUSTER}


def test_same_seed_same_frame_other_seed_other_frame(library):
    a = simulate_frame(np.random.default_rng(5), library=library)
    b = simulate_frame(np.random.default_rng(5), library=library)
    c = simulate_frame(np.random.default_rng(6), library=library)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.truth, b.truth)
    assert not np.array_equal(a.image, c.image)


def test_background_statistics_match_pedestal_and_noise(library):
    params = parameters.SimulationParameters()
    frame = simulate_frame(np.random.default_rng(1), params, library=library)
    background = frame.image[frame.truth == BACKGROUND] - params.pedestal_adu
    assert abs(np.median(background)) < 2.0
    assert abs(np.std(background[np.abs(background) < 100]) - params.noise_sigma_adu) < 1.5
    assert params.noise_sigma_adu == pytest.approx(60 / np.sqrt(10))


def test_truth_priority_hot_over_cluster_over_glowing():
    glowing = np.zeros((4, 4), bool)
    glowing[:, :2] = True
    hot = np.zeros((4, 4), bool)
    hot[0, :] = True
    cluster = np.zeros((4, 4), np.float32)
    cluster[:2, 1:3] = 50.0
    truth = truth_classes(glowing, hot, cluster, threshold_adu=19.0)
    assert truth[0, 0] == HOT_PIXEL and truth[0, 3] == HOT_PIXEL
    assert truth[1, 1] == CLUSTER and truth[1, 2] == CLUSTER
    assert truth[1, 0] == GLOWING and truth[3, 3] == BACKGROUND


def test_cluster_truth_needs_charge_of_one_noise_sigma():
    cluster = np.array([[0.0, 10.0, 19.0, 25.0]], np.float32)
    empty = np.zeros_like(cluster, dtype=bool)
    truth = truth_classes(empty, empty, cluster, threshold_adu=19.0)
    assert truth.tolist() == [[BACKGROUND, BACKGROUND, CLUSTER, CLUSTER]]


def test_banded_layout_keeps_objects_in_their_columns(library):
    rng = np.random.default_rng(3)
    for _ in range(5):
        truth = simulate_frame(rng, layout="banded", library=library).truth
        cols_hot = np.nonzero(truth == HOT_PIXEL)[1]
        cols_cluster = np.nonzero(truth == CLUSTER)[1]
        cols_glow = np.nonzero(truth == GLOWING)[1]
        assert cols_hot.size == 0 or (cols_hot.min() >= 66 and cols_hot.max() < 144)
        assert cols_cluster.size == 0 or cols_cluster.min() >= 144
        assert cols_glow.size == 0 or cols_glow.max() < 66


def test_object_counts_scale_with_area(library):
    rng = np.random.default_rng(4)
    small = np.mean([(simulate_frame(rng, library=library).truth == CLUSTER).sum() for _ in range(8)])
    big = np.mean([(simulate_frame(rng, shape=(512, 512), library=library).truth == CLUSTER).sum() for _ in range(8)])
    assert 2.5 < big / small < 6.0


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


def test_bright_part_of_the_library_matches_the_original_library():
    bright = cluster_library.make_cluster_library(803, 0, cluster_library.BRIGHT_MIXTURE)
    stats = cluster_library.library_statistics(bright)
    assert 8 <= stats["median_height_px"] <= 14 and 8 <= stats["median_width_px"] <= 14
    assert 60 <= stats["median_nonzero_px"] <= 100
    assert 33 <= stats["median_charge_units"] <= 50
    assert 0.40 <= stats["fraction_nonzero_below_0p1"] <= 0.55
    assert 2.5 <= stats["median_peak_units"] <= 5.0


def test_library_spans_the_noise_floor_to_muon_tracks(library):
    adu = 200.0  # per charge unit at the default physics; one noise sigma is about 19 ADU
    charge_adu = np.array([s.sum() for s in library]) * adu
    pixels_above_sigma = np.array([np.count_nonzero(s * adu >= 19.0) for s in library])
    assert len(library) == cluster_library.LIBRARY_SIZE
    assert np.percentile(charge_adu, 5) < 150 and charge_adu.max() > 20000
    assert np.mean(charge_adu < 1000) > 0.25
    assert np.mean((pixels_above_sigma >= 1) & (pixels_above_sigma <= 6)) > 0.15
    assert any(s.shape == (1, 1) for s in library)


def test_library_is_regenerated_identically_from_its_seed(library):
    fresh = cluster_library.make_cluster_library(cluster_library.LIBRARY_SIZE, cluster_library.LIBRARY_SEED)
    assert len(fresh) == len(library)
    assert all(np.array_equal(a, b) for a, b in zip(fresh, library))


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.target = marker
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([np.ones((2, 2)), exploit]))
    with pytest.raises(UserInputError, match="evil.pkl"):
        cluster_library.load_cluster_library(path)
    assert not marker.exists()


def test_library_of_wrong_content_is_refused(tmp_path):
    path = tmp_path / "ints.pkl"
    path.write_bytes(pickle.dumps([np.ones((3,), np.float32)]))
    with pytest.raises(UserInputError, match="2-D float"):
        cluster_library.load_cluster_library(path)
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UserInputError):
        cluster_library.load_cluster_library(path)


def test_library_cli_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "lib.pkl"
    assert details.main(["--count", "5", "--output", str(out)]) == 0
    before = out.read_bytes()
    assert details.main(["--count", "5", "--seed", "9", "--output", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_charge_distribution_plot_is_saved(tmp_path, library):
    frame = simulate_frame(np.random.default_rng(8), library=library)
    path = tmp_path / "charge.png"
    details.plot_charge_distribution(frame, path, show=False)
    assert path.stat().st_size > 1000
