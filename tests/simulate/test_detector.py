"""The skipper-CCD detector description (ccdseg/simulate/detector.py): presets, profiles, ranges, JSON."""
import json
from dataclasses import replace

import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.simulate.detector import (
    DAMIC_M,
    PRESETS,
    Detector,
    check_detector,
    detector_from_fit,
    draw_physics,
    random_detector,
)
from ccdseg.simulate.parameters import SimulationParameters


def test_presets_name_both_regimes_and_damic_2020_is_the_original():
    assert set(PRESETS) == {"damic-2020", "damic-m"}
    assert PRESETS["damic-2020"] == SimulationParameters() and PRESETS["damic-2020"].pedestal_adu == 8800.0
    assert PRESETS["damic-m"] is DAMIC_M and DAMIC_M.noise_electrons < 0.3 and 1.2 <= DAMIC_M.gain_adu_per_electron <= 1.4


def test_dark_current_rises_with_the_row_and_keeps_its_mean():
    detector = replace(DAMIC_M, dark_current_electrons_per_pixel=0.8, dark_current_readout_share=0.5)
    profile = detector.dark_current_profile(320)
    assert np.all(np.diff(profile) > 0) and profile.mean() == pytest.approx(0.8)
    assert profile[0] == pytest.approx(0.8 * 0.5, rel=0.01) and profile[-1] == pytest.approx(0.8 * 1.5, rel=0.01)
    flat = replace(detector, dark_current_readout_share=0.0).dark_current_profile(10)
    assert np.allclose(flat, 0.8)


def test_pedestal_drifts_linearly_and_a_measured_profile_is_resampled():
    detector = replace(DAMIC_M, pedestal_adu=-40.0, pedestal_drift_adu=1.3)
    profile = detector.pedestal_profile(5)
    assert profile[0] == -40.0 and profile[-1] == pytest.approx(-38.7) and np.allclose(np.diff(profile), 1.3 / 4)
    measured = replace(DAMIC_M, pedestal_adu_per_row=(0.0, 1.0, 2.0))
    assert np.allclose(measured.pedestal_profile(5), [0.0, 0.5, 1.0, 1.5, 2.0])


def test_json_round_trip_keeps_every_value():
    detector = random_detector(np.random.default_rng(3))
    text = json.dumps(detector.to_dict())
    assert Detector.from_dict(json.loads(text)) == detector
    assert "gain_adu_per_electron" in text and "noise_electrons" in text


@pytest.mark.parametrize("field, value, message", [("gain_adu_per_electron", 0.0, "gain must be positive"),
                                                    ("gain_adu_per_electron", -1.3, "gain must be positive"),
                                                    ("noise_electrons", -0.1, "noise_electrons must be 0 or more")])
def test_impossible_values_are_refused_by_name(field, value, message):
    with pytest.raises(UserInputError, match=message):
        check_detector(replace(DAMIC_M, **{field: value}))


def test_random_detectors_cover_the_damic_m_range():
    draws = [random_detector(np.random.default_rng(seed)) for seed in range(300)]
    gains = [d.gain_adu_per_electron for d in draws]
    noises = [d.noise_electrons for d in draws]
    dark = [d.dark_current_electrons_per_pixel for d in draws]
    assert 1.2 <= min(gains) < 1.22 and 1.38 < max(gains) <= 1.4
    assert 0.12 <= min(noises) < 0.13 and 0.29 < max(noises) <= 0.3
    assert 0.05 <= min(dark) < 0.07 and 1.6 < max(dark) <= 2.0


def test_both_regimes_are_drawn_half_and_half():
    kinds = [type(draw_physics("both", np.random.default_rng(seed))) for seed in range(200)]
    assert 70 < kinds.count(Detector) < 130 and kinds.count(SimulationParameters) == 200 - kinds.count(Detector)
    with pytest.raises(UserInputError, match="not one of"):
        draw_physics("sensei", np.random.default_rng(0))


def test_a_fit_becomes_a_detector_with_its_profiles():
    fit = {"shape_px": [4, 10], "gain_adu_per_electron": 1.25, "noise_electrons": 0.2,
           "pedestal_adu_per_row": [-40.0, -39.8, -39.6, -39.4], "dark_current_electrons_per_pixel": 1.0,
           "dark_current_row_bands": [[0, 2, 0.5], [2, 4, 1.5]], "first_column_excess_electrons": 2.5,
           "hot_columns": [[7, 3.0]]}
    detector = detector_from_fit(fit, clusters_per_frame=42.0)
    assert detector.gain_adu_per_electron == 1.25 and detector.hot_columns == ((7, 3.0),)
    assert np.allclose(detector.pedestal_profile(4), fit["pedestal_adu_per_row"])
    profile = detector.dark_current_profile(4)
    assert np.allclose(profile, [0.25, 0.75, 1.25, 1.75])  # straight through the band centres: band means kept
    assert profile[:2].mean() == pytest.approx(0.5) and profile[2:].mean() == pytest.approx(1.5)
    assert detector.clusters_per_frame == 42.0
    with pytest.raises(UserInputError, match="gain must be positive"):
        detector_from_fit({**fit, "gain_adu_per_electron": 0.0})
