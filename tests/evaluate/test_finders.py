"""The classical finders (ccdseg/evaluate/finders.py): find a bright deposit, ignore defect edges, tune on a grid."""
import numpy as np
import pytest

from ccdseg.core.classes import CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.evaluate.finders import (
    DEFAULT_GRIDS,
    FINDERS,
    defect_labels,
    hysteresis_labels,
    matched_filter_significance,
    threshold_for_fake_rate,
    tune_finder,
)
from ccdseg.measure.matched_filter import gaussian_profile
from ccdseg.simulate.parameters import SimulationParameters

PARAMS = SimulationParameters()
NOISE = PARAMS.noise_sigma_adu


def _blank(count, seed, shape=(64, 64)):
    rng = np.random.default_rng(seed)
    return (PARAMS.pedestal_adu + rng.normal(0.0, NOISE, (count, *shape))).astype(np.float32)


def _point(shape, row, col, charge_adu, sigma_px=0.6):
    profile = gaussian_profile(sigma_px)
    kernel = np.outer(profile, profile) * charge_adu
    half = kernel.shape[0] // 2
    deposit = np.zeros(shape, dtype=np.float32)
    deposit[row - half : row + half + 1, col - half : col + half + 1] = kernel
    return deposit


def _defect_frame(seed):
    """One 96x96 frame with a glowing block of columns and a hot row segment, no clusters."""
    frame = _blank(1, seed, (96, 96))[0]
    frame[:, :20] += 1450.0
    frame[60, 40:80] += PARAMS.hot_pixel_adu
    frame[10:50, 70] += PARAMS.hot_pixel_adu
    return frame


@pytest.mark.parametrize("name", sorted(FINDERS))
def test_isolated_bright_deposit_is_found_by_every_finder(name):
    frame = _blank(1, 1)[0] + _point((64, 64), 30, 33, 800.0)
    labels = FINDERS[name](frame)
    assert labels.shape == frame.shape and labels.dtype == np.uint8
    assert labels[30, 33] == CLUSTER
    assert np.count_nonzero(labels == CLUSTER) < 40  # the deposit, not the frame


@pytest.mark.parametrize("name", sorted(FINDERS))
def test_glowing_block_and_hot_segments_give_no_cluster_pixels(name):
    frames = np.stack([_defect_frame(seed) for seed in (2, 3)])
    labels = FINDERS[name](frames)
    assert np.mean(labels[:, :, 2:18] == GLOWING) > 0.99  # band outliers (3 sigma) may be background
    assert np.mean(labels[:, 60, 42:78] == HOT_PIXEL) > 0.95
    assert np.count_nonzero(labels == CLUSTER) <= 3  # the edge problem: the old rule gave dozens


def test_defect_mask_covers_edges_but_a_bright_cluster_flank_is_released():
    frame = _defect_frame(4)
    _, defects = defect_labels(frame[None], PARAMS, defect_dilation_px=1)
    assert defects[0, :, 20].all() and not defects[0, :, 22].any()
    assert defects[0, 59:62, 39:81].all()
    # a bright deposit whose flank pixels fall in the glowing band is not a defect
    bright = _blank(1, 5)[0] + _point((64, 64), 30, 30, 6000.0, sigma_px=0.8)
    assert defect_labels(bright[None], PARAMS, min_defect_px=0)[1].any()  # the band rule alone masks it
    _, defects = defect_labels(bright[None], PARAMS)
    assert not defects.any()
    assert FINDERS["photutils"](bright)[30, 30] == CLUSTER


def test_cluster_never_overwrites_defects():
    frame = _defect_frame(6) + _point((96, 96), 57, 50, 3000.0, sigma_px=1.0)  # halo reaches the hot row
    bands = defect_labels(frame[None], PARAMS)[0][0]
    for finder in FINDERS.values():
        labels = finder(frame)
        assert labels[57, 50] == CLUSTER
        assert (labels[bands > 0] == bands[bands > 0]).all()


def test_matched_filter_significance_is_unit_normal_on_noise():
    significance, _, _, _ = matched_filter_significance(_blank(2, 7, (128, 128)), sigmas_px=(1.0,))
    inner = significance[:, 8:-8, 8:-8]
    assert abs(float(inner.mean())) < 0.1
    assert 0.9 < float(inner.std()) < 1.1


def test_threshold_for_fake_rate_meets_its_target():
    blank = _blank(20, 8, (128, 128))
    loose = threshold_for_fake_rate(blank, 2.0)
    strict = threshold_for_fake_rate(blank, 0.1)
    assert loose < strict
    from ccdseg.evaluate.injection import count_fakes

    assert count_fakes(FINDERS["matched_filter"](blank, threshold=strict)) <= 0.1
    assert count_fakes(FINDERS["matched_filter"](blank, threshold=loose)) <= 2.0


def test_tuned_parameters_come_from_the_grid():
    rng = np.random.default_rng(9)
    images = _blank(3, 10)
    truth = np.zeros(images.shape, dtype=np.uint8)
    cluster_adu = np.zeros(images.shape, dtype=np.float32)
    for i in range(3):
        row, col = rng.integers(10, 54, 2)
        deposit = _point((64, 64), row, col, float(rng.uniform(300, 1500)))
        images[i] += deposit
        cluster_adu[i] = deposit
        truth[i][deposit >= NOISE] = CLUSTER
    grid = {"seed_sigma": (4.0, 6.0), "grow_sigma": (1.5, 2.5)}
    best, scores = tune_finder("hysteresis", images, truth, cluster_adu, grid=grid)
    assert set(best) == set(grid) and all(best[k] in grid[k] for k in grid)
    assert scores["true"] == 3 and 0.0 <= scores["f1"] <= 1.0
    assert all(len(values) <= 4 for values in DEFAULT_GRIDS["matched_filter"].values())


def test_bad_finder_name_and_bad_shape_raise_user_errors():
    with pytest.raises(UserInputError):
        tune_finder("canny", np.zeros((1, 8, 8)), np.zeros((1, 8, 8)), np.zeros((1, 8, 8)))
    with pytest.raises(UserInputError):
        FINDERS["hysteresis"](np.zeros((8,), dtype=np.float32))


def test_hysteresis_grows_from_seeds_only():
    frame = np.random.default_rng(0).normal(1000.0, 10.0, (40, 40)).astype(np.float32)
    frame = np.clip(frame, 985, 1015)
    frame[10, 10:14] = [1050, 1020, 1020, 1020]  # seed (5 sigma) and its 2-sigma tail
    frame[30, 30:33] = 1025  # 2.5 sigma, no seed
    clusters = hysteresis_labels(frame, seed_sigma=4.0, grow_sigma=1.5) == CLUSTER
    assert clusters[10, 10:14].all()
    assert not clusters[30, 30:33].any()
