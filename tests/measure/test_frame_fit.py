"""The whole measurement of a skipper frame (ccdseg/measure/frame_fit.py) and its defects (ccdseg/measure/defects.py)."""
from dataclasses import replace

import numpy as np
import pytest

from ccdseg.core.classes import CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.scoring import score_labels
from ccdseg.measure.defects import dark_current_rows, defect_labels, glow_map, trimmed_streaks
from ccdseg.measure.frame_fit import _defect_rows, fit_frame
from ccdseg.simulate.detector import DAMIC_M, random_detector
from ccdseg.simulate.skipper import simulate_skipper_frame


def test_hot_columns_start_at_their_defect_row_and_glow_is_measured():
    detector = replace(DAMIC_M, hot_columns=((200, 4.0), (400, 2.0)), amplifier_glow_probability=1.0,
                       amplifier_glow_electrons=15.0, amplifier_glow_length_px=30.0)
    frame = simulate_skipper_frame(np.random.default_rng(3), detector, (320, 640))
    fit = fit_frame(frame.image)
    assert [c for c, _ in fit.hot_columns] == [200, 400] and fit.hot_column_rows == (0, 0)
    assert fit.amplifier_glow[0] == pytest.approx(15.0, rel=0.3) and fit.amplifier_glow[1] == pytest.approx(30.0, rel=0.3)
    assert glow_map(fit)[0, 0] == pytest.approx(fit.amplifier_glow[0], rel=1e-5)
    assert dark_current_rows(fit)[-1] > dark_current_rows(fit)[0]


@pytest.mark.parametrize("glow", [(12.5, 8.0), (0.0, 8.0)])
def test_short_or_absent_glow_is_not_stretched_by_excess_far_from_the_corner(glow):
    """Many deposits and alphas leave halos far from the corner; the glow fitted is the corner's own, or none."""
    amplitude, length = glow
    detector = replace(DAMIC_M, amplifier_glow_probability=1.0, amplifier_glow_electrons=amplitude,
                       amplifier_glow_length_px=length, clusters_per_frame=200.0,
                       deposit_mixture={"x-ray": 0.3, "low-energy": 0.15, "electron": 0.4, "muon": 0.05, "alpha": 0.1})
    for seed in range(3):
        frame = simulate_skipper_frame(np.random.default_rng(seed), detector, (320, 640))
        fit = fit_frame(frame.image)
        glowing = (defect_labels(fit, frame.image) == GLOWING)[:, 1:] & (frame.truth != CLUSTER)[:, 1:]
        truth = frame.truth[:, 1:] == GLOWING
        assert np.count_nonzero(glowing & ~truth) <= max(0.5 * np.count_nonzero(truth), 20)
        if amplitude:
            assert fit.amplifier_glow[1] == pytest.approx(length, rel=0.3)


def test_a_hot_column_starts_where_its_charge_steps_up_even_when_few_rows_lie_below():
    """Its Poisson excess spreads only the rows above the defect; a spread pooled over both parts hid a step at row 20."""
    rng = np.random.default_rng(5)
    rows, dark, noise = 320, 0.05, 0.2
    excess = rng.poisson(dark, (rows, 3)) - dark + rng.normal(0.0, noise, (rows, 3))
    excess[20:, 1] += rng.poisson(1.0, rows - 20)
    excess[:, 2] += rng.poisson(1.0, rows)
    first_rows = _defect_rows(excess, np.ones_like(excess, dtype=bool), [1, 2], dark + noise**2)
    assert first_rows[0] == pytest.approx(20, abs=2) and first_rows[1] == 0


def test_defects_from_the_fit_match_the_truth_on_varied_frames():
    """Glowing (first column, glow) and hot pixel (hot columns from their defect, streaks): F1 at least 0.9 each."""
    rng = np.random.default_rng(11)
    predicted, truth = [], []
    for _ in range(6):
        frame = simulate_skipper_frame(rng, random_detector(rng), (320, 640))
        labels = defect_labels(fit_frame(frame.image), frame.image)
        defects = np.where(np.isin(frame.truth, (GLOWING, HOT_PIXEL)), frame.truth, 0)
        labels[frame.truth == 3] = 0  # a deposit on a defect is the truth's cluster
        predicted.append(labels), truth.append(defects)
    scores = score_labels(np.stack(predicted), np.stack(truth))
    assert scores["glowing"]["f1"] > 0.9 and scores["hot pixel"]["f1"] > 0.9


def test_streak_windows_are_cut_to_the_streak():
    excess = np.zeros((3, 100))
    excess[1, 30:60] = 3.0
    found = np.zeros((3, 100), bool)
    found[1, 10:80] = True
    cut = trimmed_streaks(found, excess)
    assert cut[1].sum() <= 36 and cut[1, 30:60].all() and not cut[0].any()


def test_a_deposit_beside_a_streaks_end_is_not_the_streak():
    excess = np.zeros((3, 100))
    excess[1, 30:60] = 3.0
    excess[:, 22:28] = 60.0  # an X-ray over three rows, touching the streak's row just before it starts
    found = np.zeros((3, 100), bool)
    found[1, 10:80] = True
    cut = trimmed_streaks(found, excess)
    assert cut[1, 30:60].all() and not cut[1, 22:28].any() and cut[1].sum() <= 36


def test_a_hot_column_from_a_defect_low_in_the_frame_starts_there():
    detector = replace(DAMIC_M, hot_columns_per_frame=0.0, serial_streaks_per_frame=0.0, amplifier_glow_probability=0.0)
    rng = np.random.default_rng(5)
    frame = simulate_skipper_frame(rng, detector, (320, 640))
    image = frame.image.copy()
    gain = detector.gain_adu_per_electron
    image[40:, 384] += gain * rng.poisson(9.0, 280)  # a defect at row 40: hot in the rows read after it
    image[:, 200] += gain * rng.poisson(4.0, 320)  # a whole hot column
    fit = fit_frame(image)
    rows = dict(zip([c for c, _ in fit.hot_columns], fit.hot_column_rows))
    assert abs(rows[384] - 40) <= 2 and rows[200] == 0


@pytest.mark.parametrize("row", [160, 319])
def test_a_streak_is_found_in_the_last_row_read_too(row):
    """The baseline of the last rows is their neighbours, mirrored: not copies of the streak's own row."""
    physics = replace(DAMIC_M, serial_streaks_per_frame=0.0, hot_columns_per_frame=0.0, amplifier_glow_probability=0.0,
                      dark_current_electrons_per_pixel=0.05)
    frame = simulate_skipper_frame(np.random.default_rng(8), physics, (320, 640))
    image = frame.image.copy()
    streak = np.random.default_rng(1).poisson(1.5, 300)  # serial-register charge, 1.5 electrons a pixel
    image[row, 200:500] += streak * physics.gain_adu_per_electron
    streaks = fit_frame(image).streaks
    assert streaks[row, 200:500].mean() > 0.9 and not streaks[row, 560:].any()


@pytest.mark.parametrize("masked, first_row", [(8, 124), (20, 116)])
def test_rows_a_compact_deposit_masks_at_a_columns_step_go_below_it(masked, first_row):
    """An X-ray on a hot column's first row masks it: a short masked run is the deposit's, a long one stays listed."""
    rng = np.random.default_rng(6)
    rows, dark, noise = 320, 0.05, 0.2
    excess = rng.poisson(dark, (rows, 1)) - dark + rng.normal(0.0, noise, (rows, 1))
    excess[120:, 0] += 3.0  # the hot column's charge from its defect at row 120
    usable = np.ones_like(excess, dtype=bool)
    usable[116 : 116 + masked, 0] = False  # the deposit's bright pixels, grown
    assert _defect_rows(excess, usable, [0], dark + noise**2) == (first_row,)
