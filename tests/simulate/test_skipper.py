"""Skipper-CCD amplifier frames (ccdseg/simulate/skipper.py): ADU from electrons, truth as a physicist says it."""
from dataclasses import replace

import numpy as np
import pytest

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.simulate import skipper
from ccdseg.simulate.detector import DAMIC_M, random_detector
from ccdseg.simulate.skipper import simulate_skipper_frame

QUIET = replace(DAMIC_M, noise_electrons=0.0, amplifier_glow_probability=0.0, hot_columns_per_frame=0.0,
                serial_streaks_per_frame=0.0, clusters_per_frame=0.0, first_column_excess_electrons=0.0,
                dark_current_electrons_per_pixel=0.0)


def electrons(frame, detector):
    return (frame.image - detector.pedestal_profile(frame.image.shape[0])[:, None]) / detector.gain_adu_per_electron


def test_without_noise_every_pixel_is_pedestal_plus_whole_electrons():
    detector = replace(QUIET, clusters_per_frame=100.0, serial_cti=0.0)
    frame = simulate_skipper_frame(np.random.default_rng(0), detector, (64, 96))
    counts = electrons(frame, detector)
    assert frame.image.dtype == np.float32 and frame.truth.shape == (64, 96)
    assert np.allclose(counts, np.rint(counts), atol=2e-3) and counts.min() > -1e-3


def test_dark_current_is_background_however_bright_and_rises_with_the_row():
    detector = replace(QUIET, dark_current_electrons_per_pixel=3.0, dark_current_readout_share=0.9)
    frame = simulate_skipper_frame(np.random.default_rng(1), detector, (200, 300))
    counts = np.rint(electrons(frame, detector))
    assert np.all(frame.truth == BACKGROUND) and counts.max() >= 9
    assert counts.mean() == pytest.approx(3.0, rel=0.02)
    assert counts[:20].mean() < 0.5 * counts[-20:].mean()
    zero = np.mean(counts[90:110] == 0)
    assert zero == pytest.approx(np.exp(-detector.dark_current_profile(200)[100]), abs=0.02)


def test_first_column_hot_columns_and_streaks_have_their_classes():
    detector = replace(QUIET, first_column_excess_electrons=3.0, hot_columns_per_frame=8.0, serial_streaks_per_frame=6.0,
                       dark_current_electrons_per_pixel=0.05)
    frame = simulate_skipper_frame(np.random.default_rng(2), detector, (320, 640))
    streak_rows = np.flatnonzero((frame.truth == HOT_PIXEL).sum(axis=1) > 15)
    assert np.all(np.delete(frame.truth[:, 0], streak_rows) == GLOWING)
    counts = np.rint(electrons(frame, detector))
    assert counts[:, 0].mean() == pytest.approx(3.05, abs=0.3)
    hot = frame.truth == HOT_PIXEL
    columns = np.flatnonzero(hot.sum(axis=0) > 100)
    rows = np.flatnonzero(hot.sum(axis=1) > 15)
    assert len(columns) >= 3 and len(rows) >= 2
    assert counts[hot].mean() > 1.0 and np.var(counts[:, columns[0]][hot[:, columns[0]]]) > 0.3  # Poisson, not constant


def test_cluster_truth_is_where_a_particle_left_an_electron():
    detector = replace(QUIET, clusters_per_frame=150.0, serial_cti=0.0)
    frame = simulate_skipper_frame(np.random.default_rng(3), detector, (320, 640))
    deposited = frame.cluster_adu / detector.gain_adu_per_electron
    assert np.array_equal(frame.truth == CLUSTER, deposited >= 1.0)
    counts = np.rint(electrons(frame, detector))
    assert np.array_equal(counts, np.rint(deposited))  # no dark current: the frame is the particles


def test_serial_trail_moves_charge_to_the_columns_read_after():
    charge = np.zeros((3, 20), np.int32)
    charge[1, 5] = 100_000
    trailed = skipper.serial_trail(charge, 1e-3, np.random.default_rng(4))
    assert trailed.sum() == charge.sum() and trailed[1, :5].sum() == 0
    assert 0 < trailed[1, 6] and trailed[1, 6] > trailed[1, 8] and trailed[1, 6:11].sum() == 100_000 - trailed[1, 5]


def test_same_seed_same_frame_and_counts_scale_with_area():
    detector = random_detector(np.random.default_rng(5))
    a = simulate_skipper_frame(np.random.default_rng(6), detector, (64, 64))
    b = simulate_skipper_frame(np.random.default_rng(6), detector, (64, 64))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.truth, b.truth)
    per_px = [np.mean([(simulate_skipper_frame(np.random.default_rng(s), DAMIC_M, shape).truth == CLUSTER).mean()
                       for s in range(4)]) for shape in ((160, 320), (320, 640))]
    assert per_px[0] == pytest.approx(per_px[1], rel=0.35)


def test_frames_look_like_the_real_damic_m_frame():
    """REFERENCE.md: noise ~0.15 e, about half the pixels hold an electron or more, a brighter first column, ~130 clusters."""
    frame = simulate_skipper_frame(np.random.default_rng(7), DAMIC_M, (320, 640))
    counts = np.rint(electrons(frame, DAMIC_M))
    background = frame.truth == BACKGROUND
    assert 0.35 < np.mean(counts[background] >= 1) < 0.65
    assert 2.0 < np.median(counts[:, 0]) - np.median(counts[:, 1:]) < 4.5
    below = frame.image[background] - DAMIC_M.pedestal_profile(320)[:, None].repeat(640, 1)[background]
    zero_peak = below[np.abs(below) < 0.5 * DAMIC_M.gain_adu_per_electron]
    assert zero_peak.std() == pytest.approx(DAMIC_M.noise_adu, rel=0.1)


def test_every_particle_pixel_knows_its_deposit_and_kind():
    detector = replace(QUIET, clusters_per_frame=60.0, serial_cti=0.0, deposit_mixture={"x-ray": 1.0, "muon": 1.0})
    frame = simulate_skipper_frame(np.random.default_rng(8), detector, (320, 640))
    assert frame.deposit_ids.shape == frame.truth.shape and set(frame.deposit_kinds) <= {"x-ray", "muon"}
    assert np.array_equal(frame.deposit_ids > 0, frame.cluster_adu > 0)
    assert frame.deposit_ids.max() <= len(frame.deposit_kinds)
    for number in np.unique(frame.deposit_ids[frame.deposit_ids > 0])[:10]:
        electrons = frame.cluster_adu[frame.deposit_ids == number].sum() / detector.gain_adu_per_electron
        if frame.deposit_kinds[number - 1] == "x-ray" and not (frame.deposit_ids[[0, -1], :] == number).any() \
                and not (frame.deposit_ids[:, [0, -1]] == number).any():
            assert electrons * 3.75 == pytest.approx(5900, rel=0.04) or electrons * 3.75 > 6200
