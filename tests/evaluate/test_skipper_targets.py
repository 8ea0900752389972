"""The skipper-frame figures (ccdseg/evaluate/skipper_targets.py): deposit by deposit, on truth and on spoilt truth."""
from dataclasses import replace

import numpy as np
import pytest

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.evaluate import skipper_targets as targets
from ccdseg.simulate.detector import DAMIC_M

LINES = replace(DAMIC_M, deposit_mixture={"x-ray": 3.0, "muon": 1.0, "electron": 1.0}, clusters_per_frame=80.0)


@pytest.fixture(scope="module")
def frames():
    return targets.skipper_test_frames(3, 11, (160, 320), LINES)


def test_truth_scores_perfectly(frames):
    truth = np.stack([f.truth for f in frames])
    scores = targets.skipper_scores(frames, truth)
    assert scores["line_x_rays"] > 10 and scores["line_found"] == 1.0 and scores["line_with_hot_pixel"] == 0.0
    assert scores["track_cluster"] == 1.0 and scores["track_glowing_or_hot"] == 0.0 and scores["fakes_per_frame"] == 0.0
    assert scores["glowing_f1"] == 1.0 and scores["hot_pixel_f1"] == 1.0 and scores["clusters_found"] == scores["clusters_true"]


def test_a_hot_brightest_pixel_and_a_glowing_track_are_counted(frames):
    spoilt = np.stack([f.truth.copy() for f in frames])
    frame = frames[0]
    _, line = targets._deposit_table(frame)
    first = int(np.flatnonzero(line)[0]) + 1
    brightest = np.unravel_index(np.argmax(np.where(frame.deposit_ids == first, frame.cluster_adu, -1)), frame.truth.shape)
    spoilt[0][brightest] = HOT_PIXEL
    kinds = np.array(("",) + frame.deposit_kinds, dtype=object)
    track = np.isin(kinds[frame.deposit_ids], targets.TRACK_KINDS) & (frame.truth == CLUSTER)
    spoilt[0][track] = GLOWING
    scores = targets.skipper_scores(frames, spoilt)
    lines = targets.skipper_scores(frames, np.stack([f.truth for f in frames]))["line_x_rays"]
    assert scores["line_with_hot_pixel"] == pytest.approx(1 / lines)
    assert 0.0 < scores["track_glowing_or_hot"] < 1.0 and scores["track_cluster"] < 1.0


def test_missed_deposits_and_fakes_are_counted(frames):
    nothing = np.zeros((3, 160, 320), np.uint8)
    assert targets.deposit_scores(frames, nothing)["line_found"] == 0.0
    fake = np.stack([f.truth.copy() for f in frames])
    empty = (frames[1].truth == BACKGROUND) & (frames[1].cluster_adu == 0)
    rows, cols = np.nonzero(empty)
    fake[1][rows[len(rows) // 2], cols[len(cols) // 2]] = CLUSTER
    assert targets.skipper_scores(frames, fake)["fakes_per_frame"] == pytest.approx(1 / 3)


def test_line_energy_is_the_line_not_its_neighbours():
    rng = np.random.default_rng(0)
    energies = np.concatenate([rng.normal(5.9, 0.1, 300), rng.normal(6.49, 0.1, 40), rng.normal(8.04, 0.1, 30),
                               rng.uniform(0.1, 300, 500)])
    assert targets.line_energy_kev(energies) == pytest.approx(5.9, abs=0.03)
    assert np.isnan(targets.line_energy_kev(np.array([1.0, 20.0])))


def test_dark_frames_hold_the_dark_current_asked_for():
    frame = targets.dark_frames(1, 3, 2.0, (64, 96))[0]
    assert frame.params.dark_current_electrons_per_pixel == 2.0 and frame.image.shape == (64, 96)


def test_the_track_share_has_its_standard_error_over_frames(frames):
    assert targets.ratio_standard_error([9, 18, 27], [10, 20, 30]) == 0.0
    assert targets.ratio_standard_error([9, 10], [10, 10]) == pytest.approx(0.05)  # residuals -0.5, 0.5 around 0.95
    assert np.isnan(targets.ratio_standard_error([9], [10])) and np.isnan(targets.ratio_standard_error([0, 0], [0, 0]))
    truth = np.stack([f.truth for f in frames])
    assert targets.deposit_scores(frames, truth)["track_cluster_error"] == 0.0
    spoilt = truth.copy()
    spoilt[0][spoilt[0] == CLUSTER] = BACKGROUND  # one frame loses every track pixel, the others keep theirs
    scores = targets.deposit_scores(frames, spoilt)
    assert 0.0 < scores["track_cluster"] < 1.0 and scores["track_cluster_error"] > 0.1


def test_frames_beyond_the_trained_range_are_scored_case_by_case():
    from ccdseg.evaluate.skipper_bench import BEYOND_RANGE, STORED, measure_beyond_range

    result = measure_beyond_range({"nothing": lambda image: np.zeros(image.shape, np.uint8)}, 1)
    assert list(result["cases"]) == list(BEYOND_RANGE) + list(STORED) and result["frames"] == 1
    for case in result["cases"].values():
        scores = case["methods"]["nothing"]
        assert case["recognised"] in (0, 1) and scores["line_found"] == 0.0 and scores["fakes_per_frame"] == 0.0
        assert scores["deposits"] > 0 and scores["deposits_found"] == 0


def test_frames_stored_as_tile_compressed_files_keep_their_values_within_the_step():
    from ccdseg.evaluate.skipper_bench import BEYOND_SEED, STORED, beyond_range_frames
    from ccdseg.evaluate.skipper_targets import skipper_test_frames
    from ccdseg.measure.quantisation import row_steps

    frames = beyond_range_frames(1)
    original = skipper_test_frames(1, BEYOND_SEED)[0].image
    without = frames["stored at fpack's step without dither"][0].image
    steps = row_steps(without)
    assert steps.all() and np.all(np.abs(without - original).max(axis=1) <= 0.51 * steps)
    dithered = frames["stored as fpack does (-q 4, dithered)"][0].image
    assert not row_steps(dithered).any() and np.all(np.abs(dithered - original).max(axis=1) <= 1.01 * steps)
    assert set(STORED) <= set(frames)


def test_the_reconstruction_mask_covers_one_column_before_and_five_after():
    clusters = np.zeros((3, 12), dtype=bool)
    clusters[1, 3] = True
    mask = targets.reconstruction_mask(clusters)
    assert np.flatnonzero(mask[1]).tolist() == list(range(2, 9)) and not mask[[0, 2]].any()


def test_judged_against_the_reconstruction_as_a_real_frame_is():
    frame = targets.skipper_test_frames(1, 11, (40, 60), LINES)[0]
    charge = np.zeros((40, 60), dtype=np.float32)
    charge[5:8, 5:8] = charge[20:24, 30:34] = charge[35, 50] = 100.0  # two deposits the reconstruction has, one not
    frame = replace(frame, cluster_adu=charge)
    reconstructed = np.zeros((1, 40, 60), dtype=np.uint8)
    reconstructed[0, 5:8, 5:8] = reconstructed[0, 20:24, 30:34] = CLUSTER
    predicted = np.zeros_like(reconstructed)
    predicted[0, 5:8, 5:8] = CLUSTER          # the first whole
    predicted[0, 20:21, 30:34] = CLUSTER      # a quarter of the second, the rest hot
    predicted[0, 21:24, 30:34] = HOT_PIXEL
    predicted[0, 22, 36] = CLUSTER            # in the second's trail: touches it
    predicted[0, 35, 50] = CLUSTER            # a deposit the reconstruction missed
    predicted[0, 2, 55] = CLUSTER             # a fake
    judged = targets.against_reconstruction([frame], predicted, reconstructed)
    assert judged["reconstruction_clusters"] == 2
    assert judged["any_pixel_cluster"] == 1.0 and judged["most_pixels_cluster"] == 0.5
    assert judged["pixels_cluster"] == pytest.approx(13 / 25) and judged["pixels_glowing_or_hot"] == pytest.approx(12 / 25)
    assert judged["untouched_per_frame"] == 2.0 and judged["untouched_on_deposit_per_frame"] == 1.0
