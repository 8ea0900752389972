"""Injection (ccdseg/evaluate/injection.py): deposits of known charge, matching, efficiency with intervals, fakes."""
import json

import numpy as np
import pytest

from ccdseg.core.classes import CLUSTER, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.evaluate.injection import (
    blank_frames,
    count_fakes,
    found_mask,
    inject,
    injection_efficiency,
    point_deposit_stamp,
)
from ccdseg.simulate.parameters import SimulationParameters, noise_free

PARAMS = SimulationParameters()
QUIET = noise_free(PARAMS)  # no readout noise: frame - pedestal is the deposited charge
SMALL = {
    "charges_adu": (200, 1500),
    "frames_per_charge": 2,
    "per_frame": 9,
    "blank_count": 3,
    "shape": (96, 96),
    "params": QUIET,
}


def _perfect(frames):
    """Truth from the injected charge alone (noise-free frames): deposited > 0 is cluster."""
    return np.where(frames - QUIET.pedestal_adu > 1e-2, CLUSTER, 0).astype(np.uint8)


def test_blank_frames_have_the_simulation_pedestal_and_noise():
    frames = blank_frames(3, seed=1, shape=(64, 64))
    assert frames.shape == (3, 64, 64) and frames.dtype == np.float32
    assert abs(float(frames.mean()) - PARAMS.pedestal_adu) < 1.0
    assert abs(float(frames.std()) - PARAMS.noise_sigma_adu) < 0.5


def test_point_deposit_stamp_holds_the_charge_and_is_centred():
    stamp = point_deposit_stamp(500.0, 0.8, dx=0.3, dy=-0.2)
    assert stamp.sum() == pytest.approx(500.0, rel=1e-4)
    rows, cols = np.indices(stamp.shape) - stamp.shape[0] // 2
    assert (stamp * cols).sum() / 500.0 == pytest.approx(0.3, abs=0.01)
    assert (stamp * rows).sum() / 500.0 == pytest.approx(-0.2, abs=0.01)


def test_injected_total_charge_equals_the_requested_charge():
    frames = blank_frames(2, seed=2, shape=(96, 96))
    with_deposits, centres, deposited = inject(frames, 400.0, per_frame=9, seed=3)
    assert centres.shape == (18, 3)
    assert float(deposited.sum()) == pytest.approx(18 * 400.0, rel=0.01)
    np.testing.assert_allclose(with_deposits - frames, deposited, atol=1e-2)
    # each deposit's own charge: sum within 4 px of its centre
    for frame, row, col in centres[:5]:
        r, c = round(row), round(col)
        local = deposited[int(frame), r - 5 : r + 6, c - 5 : c + 6].sum()
        assert local == pytest.approx(400.0, rel=0.01)


def test_deposits_do_not_overlap_and_stay_off_the_edges():
    frames = blank_frames(3, seed=4, shape=(128, 128))
    _, centres, _ = inject(frames, 300.0, per_frame=25, sigma_px=(0.2, 1.2), seed=5, min_separation_px=12.0)
    for frame in range(3):
        points = centres[centres[:, 0] == frame, 1:]
        distance = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
        distance[np.diag_indices(len(points))] = np.inf
        assert distance.min() >= 12.0
        assert points.min() >= 4.0 and points.max() <= 127 - 4.0
    assert not np.allclose(centres[:, 1:] % 1.0, 0.0)  # sub-pixel positions


def test_too_many_deposits_for_the_frame_is_a_user_error():
    with pytest.raises(UserInputError):
        inject(blank_frames(1, seed=0, shape=(32, 32)), 300.0, per_frame=100)


def test_found_mask_uses_the_radius_and_count_fakes_counts_objects():
    prediction = np.zeros((2, 32, 32), dtype=np.uint8)
    prediction[0, 10, 12] = CLUSTER
    prediction[1, 20, 20] = HOT_PIXEL
    prediction[1, 5:7, 5:7] = CLUSTER
    centres = np.array([[0, 10.2, 10.4], [0, 10.0, 15.0], [1, 20.0, 20.0], [1, 5.5, 5.5]])
    np.testing.assert_array_equal(found_mask(prediction, centres, radius_px=2), [True, False, False, True])
    assert count_fakes(prediction) == pytest.approx(1.0)


def test_a_perfect_label_fn_finds_everything_without_fakes():
    result = injection_efficiency(_perfect, seed=1, **SMALL)
    assert result["efficiency"] == [1.0, 1.0]
    assert result["found"] == result["injected"] == [18, 18]
    assert result["fakes_per_frame"] == 0.0
    json.dumps(result)


def test_predicting_nothing_finds_nothing_and_intervals_bracket_the_efficiency():
    nothing = injection_efficiency(lambda frames: np.zeros(frames.shape, np.uint8), seed=2, **SMALL)
    assert nothing["efficiency"] == [0.0, 0.0]
    assert nothing["missed_as"]["background"] == 1.0

    def half(frames):
        labels = _perfect(frames)
        labels[:, :, : frames.shape[2] // 2] = 0
        return labels

    result = injection_efficiency(half, seed=3, **SMALL)
    for low, eff, high in zip(result["efficiency_low"], result["efficiency"], result["efficiency_high"]):
        assert 0.0 < low < eff < high < 1.0
