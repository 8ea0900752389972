"""Measuring a skipper-CCD frame's physics from its own pixels (ccdseg/measure/calibration.py)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ccdseg.core.errors import UserInputError  # noqa: E402
from ccdseg.measure.calibration import fit_poisson_gauss, row_pedestals  # noqa: E402
from ccdseg.measure.frame_fit import fit_frame  # noqa: E402

SHAPE = (320, 640)
HOT_COLUMN = 217
FIRST_COLUMN_EXCESS_E = 3.0


def simulate_frame(seed: int, gain: float, noise_e: float, lambda_e: float, shape: tuple[int, int] = SHAPE,
                   pedestal_adu: float = -40.0) -> tuple[np.ndarray, dict]:
    """A skipper frame (h, w) ADU with known truth, like a DAMIC-M amplifier image.

    Pedestal per row with a 1 ADU linear drift and 0.03 ADU row jitter; Poisson dark current whose
    mean rises linearly from 0.3 to 1.7 times lambda_e over the rows; column 0 with 3 electrons
    more, one hot column with 3 more; six compact clusters of 1600 electrons; two one-row streaks of
    3 electrons per pixel; Gaussian readout noise. Truth: pedestal per row (ADU), lambda per row and
    the dark charge itself (electrons, without columns 0 and the hot one's extra).
    """
    rng = np.random.default_rng(seed)
    rows, (h, w) = np.arange(shape[0]), shape
    pedestal = pedestal_adu + 1.0 * rows / (h - 1) + rng.normal(0.0, 0.03, h)
    lambda_rows = lambda_e * (0.3 + 1.4 * rows / (h - 1))
    dark = rng.poisson(lambda_rows[:, None], (h, w)).astype(np.float64)
    electrons = dark.copy()
    electrons[:, 0] += rng.poisson(FIRST_COLUMN_EXCESS_E, h)
    electrons[:, HOT_COLUMN] += rng.poisson(3.0, h)
    for _ in range(6):
        centre = rng.uniform([5, 5], [h - 5, w - 5])
        spots = np.round(centre + rng.normal(0.0, 0.7, (1600, 2))).astype(int)
        np.add.at(electrons, (np.clip(spots[:, 0], 0, h - 1), np.clip(spots[:, 1], 0, w - 1)), 1.0)
    for _ in range(2):
        row, first, length = rng.integers(0, h), rng.integers(1, w - 200), rng.integers(30, 200)
        electrons[row, first:first + length] += rng.poisson(3.0, length)
    image = pedestal[:, None] + gain * electrons + rng.normal(0.0, noise_e * gain, (h, w))
    return image, {"pedestal_adu": pedestal, "lambda_rows": lambda_rows, "dark_electrons": dark}


def simulate_old_frame(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A conventional CCD frame (h, w) ADU: pedestal 8800 ADU, noise 19 ADU, gain 10 ADU/e, no dark current."""
    rng = np.random.default_rng(seed)
    pedestal = 8800.0 + 0.8 * np.arange(SHAPE[0]) / (SHAPE[0] - 1)
    electrons = np.zeros(SHAPE)
    for _ in range(6):
        spots = np.round(rng.uniform(5, 300) + rng.normal(0.0, 0.7, (1600, 2))).astype(int)
        np.add.at(electrons, (spots[:, 0], spots[:, 1]), 1.0)
    return pedestal[:, None] + 10.0 * electrons + rng.normal(0.0, 19.0, SHAPE), pedestal


# (gain ADU/e, noise e, mean lambda e/pixel): the corners and the middle of the skipper range
POINTS = [(1.2, 0.12, 0.05), (1.4, 0.30, 2.0), (1.3, 0.15, 1.0), (1.4, 0.12, 2.0), (1.2, 0.30, 0.05),
          (1.3, 0.20, 0.3)]


@pytest.mark.parametrize("gain, noise_e, lambda_e", POINTS)
def test_fit_frame_recovers_gain_noise_dark_current_pedestal_and_columns(gain, noise_e, lambda_e):
    image, truth = simulate_frame(seed=int(100 * lambda_e + 10 * gain), gain=gain, noise_e=noise_e, lambda_e=lambda_e)
    result = fit_frame(image).to_dict()
    assert result["converged"]
    assert result["gain_adu_per_electron"] == pytest.approx(gain, rel=0.01)
    assert result["noise_electrons"] == pytest.approx(noise_e, rel=0.05)
    assert result["dark_current_electrons_per_pixel"] == pytest.approx(truth["lambda_rows"].mean(), rel=0.05)
    for first, stop, lam in result["dark_current_row_bands"]:
        # the band's own dark charge is the truth its pixels hold (a 40-row band at lambda 0.015 holds
        # ~400 one-electron pixels, so its Poisson mean is only known to 5 % from any frame)
        assert lam == pytest.approx(truth["dark_electrons"][first:stop, 1:].mean(), rel=0.10)
    pedestal_error_e = np.abs(np.array(result["pedestal_adu_per_row"]) - truth["pedestal_adu"]) / gain
    assert pedestal_error_e.mean() < 0.1
    assert result["pedestal_drift_adu"] == pytest.approx(1.0, abs=0.1)
    assert result["first_column_excess_electrons"] == pytest.approx(FIRST_COLUMN_EXCESS_E, rel=0.2)
    assert [column for column, _ in result["hot_columns"]] == [HOT_COLUMN]
    assert result["hot_columns"][0][1] == pytest.approx(3.0, rel=0.2)


def test_row_pedestals_hold_when_most_pixels_hold_electrons():
    image, truth = simulate_frame(seed=7, gain=1.3, noise_e=0.25, lambda_e=2.0)
    pedestal = row_pedestals(image)
    assert pedestal.shape == (SHAPE[0],) and pedestal.dtype == np.float64
    assert np.abs(pedestal - truth["pedestal_adu"]).mean() / 1.3 < 0.1
    # a median would sit one to three electrons up in the top rows
    assert np.abs(np.median(image, axis=1) - truth["pedestal_adu"])[-40:].mean() / 1.3 > 1.0


def test_row_pedestals_ignore_nan_and_fill_empty_rows():
    image, truth = simulate_frame(seed=8, gain=1.3, noise_e=0.15, lambda_e=1.0)
    image[np.random.default_rng(0).random(image.shape) < 0.1] = np.nan
    image[50:55] = np.nan
    pedestal = row_pedestals(image)
    assert np.isfinite(pedestal).all()
    assert np.abs(pedestal - truth["pedestal_adu"]).mean() / 1.3 < 0.1
    assert np.abs(pedestal[50:55] - truth["pedestal_adu"][50:55]).max() / 1.3 < 0.2


def test_fit_frame_with_nan_pixels_still_meets_its_targets():
    image, truth = simulate_frame(seed=9, gain=1.3, noise_e=0.15, lambda_e=1.0)
    image[np.random.default_rng(1).random(image.shape) < 0.05] = np.nan
    image[:, 400] = np.nan
    result = fit_frame(image).to_dict()
    assert result["gain_adu_per_electron"] == pytest.approx(1.3, rel=0.01)
    assert result["dark_current_electrons_per_pixel"] == pytest.approx(1.0, rel=0.05)
    assert [column for column, _ in result["hot_columns"]] == [HOT_COLUMN]


def test_to_dict_is_json_ready_with_units_in_the_keys():
    image, _ = simulate_frame(seed=10, gain=1.3, noise_e=0.15, lambda_e=1.0)
    result = fit_frame(image, row_bands=4).to_dict()
    assert set(result) == {
        "shape_px", "gain_adu_per_electron", "noise_electrons", "pedestal_adu", "pedestal_adu_per_row",
        "pedestal_drift_adu", "dark_current_electrons_per_pixel", "dark_current_row_bands",
        "first_column_excess_electrons", "hot_columns", "amplifier_glow_electrons", "amplifier_glow_length_px",
        "fitted_pixels", "converged"}
    assert json.loads(json.dumps(result)) == result
    assert result["shape_px"] == list(SHAPE) and len(result["pedestal_adu_per_row"]) == SHAPE[0]
    assert [band[:2] for band in result["dark_current_row_bands"]] == [[0, 80], [80, 160], [160, 240], [240, 320]]
    assert 0.9 * SHAPE[0] * SHAPE[1] < result["fitted_pixels"] < SHAPE[0] * SHAPE[1]


def test_fit_poisson_gauss_recovers_a_known_comb_with_errors():
    rng = np.random.default_rng(3)
    values = 1.25 * rng.poisson(0.7, 200_000) + rng.normal(0.1, 0.25, 200_000)
    values[:300] = rng.uniform(50, 500, 300)   # bright pixels fall outside the histogram
    fit = fit_poisson_gauss(values)
    assert fit.converged
    for name, value, truth in [("gain_adu", fit.gain_adu, 1.25), ("noise_adu", fit.noise_adu, 0.25),
                               ("lambda_electrons", fit.lambda_electrons, 0.7), ("offset_adu", fit.offset_adu, 0.1)]:
        assert 0 < fit.errors[name] < 0.01
        assert abs(value - truth) < 5 * fit.errors[name], name
    held = fit_poisson_gauss(values, gain_adu=1.25, fixed=("gain_adu",))
    assert held.gain_adu == 1.25 and held.errors["gain_adu"] == 0.0
    assert held.lambda_electrons == pytest.approx(0.7, rel=0.02)


def test_old_frame_without_gain_asks_for_it():
    image, _ = simulate_old_frame(seed=4)
    with pytest.raises(UserInputError, match="^no 1-electron peak found: single electrons are not resolved"):
        fit_frame(image)


def test_old_frame_with_gain_gives_pedestal_and_noise():
    image, pedestal = simulate_old_frame(seed=5)
    result = fit_frame(image, gain_adu_per_electron=10.0).to_dict()
    assert result["gain_adu_per_electron"] == 10.0
    assert result["noise_electrons"] == pytest.approx(1.9, rel=0.05)
    assert result["pedestal_adu"] == pytest.approx(pedestal.mean(), abs=0.5)
    assert np.abs(np.array(result["pedestal_adu_per_row"]) - pedestal).mean() < 1.5   # 19 ADU / sqrt(640 px)
    assert result["dark_current_electrons_per_pixel"] < 0.05
    unresolved = row_pedestals(image)   # the Gaussian noise peak of each row, no gain needed
    assert np.abs(unresolved - pedestal).mean() < 1.5


@pytest.mark.parametrize("image, message", [
    (np.zeros((3, 1)), "^frame of 3 x 1 px is too small to fit"),
    (np.zeros((2, 30, 30)), "^frame must be 2-D"),
    (np.full((40, 40), np.nan), "^frame of 40 x 40 px has no finite pixel"),
    (np.full((40, 40), 5.0), "^no noise peak found: the pixel values have no spread"),
    (np.random.default_rng(0).normal(100.0, 3.0, (100, 100)), "^no 1-electron peak found"),
])
def test_user_errors_name_what_failed_in_one_line(image, message):
    with pytest.raises(UserInputError, match=message) as caught:
        fit_frame(image)
    assert "\n" not in str(caught.value)


def test_a_fit_that_does_not_converge_is_a_user_error(monkeypatch):
    solve = optimize.least_squares

    def fails(*args, **kwargs):
        result = solve(*args, **kwargs)
        result.success, result.message = False, "the maximum number of function evaluations is exceeded"
        return result

    monkeypatch.setattr(optimize, "least_squares", fails)
    image, _ = simulate_frame(seed=11, gain=1.3, noise_e=0.15, lambda_e=1.0)
    with pytest.raises(UserInputError, match="^the Poisson-Gauss fit did not converge: the maximum number"):
        fit_frame(image)


def test_a_gain_that_is_not_positive_is_refused():
    image, _ = simulate_frame(seed=12, gain=1.3, noise_e=0.15, lambda_e=1.0)
    with pytest.raises(UserInputError, match="^the gain and noise must be positive, got -1.3"):
        fit_frame(image, gain_adu_per_electron=-1.3)
