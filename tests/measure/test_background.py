"""Pedestal and noise of a frame (ccdseg/measure/background.py)."""
import numpy as np

from ccdseg.measure import background
from ccdseg.simulate import parameters
from ccdseg.simulate.frame import simulate_frame


def test_background_estimate_is_not_pulled_by_glowing_columns(library):
    params = parameters.SimulationParameters(glowing_probability=1.0, glowing_width_px=(60, 61))
    rng = np.random.default_rng(21)
    frames = np.stack([simulate_frame(rng, params, library=library).image for _ in range(4)])
    frames[0, :5, :5] = np.nan
    pedestal, sigma = background.robust_background(frames)
    assert pedestal.shape == (4, 1, 1)
    assert np.all(np.abs(pedestal - params.pedestal_adu) < 1.5)
    assert np.all(np.abs(sigma - params.noise_sigma_adu) < 1.0)


def test_row_background_in_both_regimes():
    """CCD frames: pedestal and noise per row; skipper frames: pedestal plus dark current, spread with its Poisson part."""
    import numpy as np
    import pytest

    from ccdseg.measure.background import frame_background, single_electrons
    from ccdseg.simulate.detector import DAMIC_M
    from ccdseg.simulate.frame import simulate_frame
    from ccdseg.simulate.skipper import simulate_skipper_frame

    ccd = simulate_frame(np.random.default_rng(1), None, "mixed", (256, 256))
    background = frame_background(ccd.image)
    assert single_electrons(ccd.image) is None and background.gain_adu_per_electron is None and background.fit is None
    assert np.abs(background.level_adu - 8800.0).max() < 0.3 * ccd.params.noise_sigma_adu
    assert np.median(background.spread_adu) == pytest.approx(ccd.params.noise_sigma_adu, rel=0.05)
    skipper = simulate_skipper_frame(np.random.default_rng(2), DAMIC_M, (320, 640))
    background = frame_background(skipper.image)
    gain, lam = DAMIC_M.gain_adu_per_electron, DAMIC_M.dark_current_profile(320)
    assert background.gain_adu_per_electron == pytest.approx(gain, rel=0.01) and background.fit is not None
    level = DAMIC_M.pedestal_profile(320) + gain * lam
    assert np.median(np.abs(background.level_adu - level)) < 0.1 * gain
    spread = gain * np.sqrt(DAMIC_M.noise_electrons**2 + lam)
    assert np.median(background.spread_adu / spread) == pytest.approx(1.0, abs=0.1)


def test_a_frame_without_background_is_untrusted_not_an_error():
    import numpy as np

    from ccdseg.measure.background import frame_background

    flat = frame_background(np.full((64, 64), 7.0, np.float32))
    assert not flat.trusted and "no background found" in flat.note and np.all(flat.spread_adu > 0)


def test_glowing_blocks_are_not_taken_for_electron_peaks():
    """A 2020 frame whose glow sits a few noise sigmas above the pedestal shows no comb of electrons."""
    import numpy as np

    from ccdseg.measure.background import single_electrons
    from ccdseg.simulate.frame import simulate_frame
    from ccdseg.simulate.parameters import random_parameters

    rng = np.random.default_rng(0)
    assert all(single_electrons(simulate_frame(rng, random_parameters(rng), "mixed", (256, 256)).image) is None
               for _ in range(20))


def _low_dark_current_frame(rng, lam=0.002, noise=0.15, shape=(320, 640)):
    """Electrons of a skipper frame at low dark current: glow at the corner, a serial streak, a track with its halo."""
    rows, cols = np.indices(shape)
    expected = lam + 3.0 * np.exp(-(rows + cols) / 25.0)  # amplifier glow near the readout corner
    expected[100, 200:500] += 1.0  # a serial streak of one electron a pixel
    expected[200:203, 100:400] += [[1.0], [8.0], [1.0]]  # a straight track: its core and halo rows
    return rng.poisson(expected) + rng.normal(0.0, noise, shape)


def test_single_electrons_at_low_dark_current_are_random_despite_glow_streaks_and_tracks():
    rng = np.random.default_rng(3)
    frame = _low_dark_current_frame(rng)
    around = background.RANDOM_WINDOW_PX
    assert background.electrons_are_random(frame, 0.15, around) and background.one_electron_peak(frame, 0.15)
    assert not background.electrons_are_random(frame, 0.15)  # over the whole frame, the glow's electrons bunch
    block = rng.normal(0.0, 0.15, (320, 640))
    block[100:160, 100:300] += 1.0  # a glowing block whose level looks like one electron
    block[rng.uniform(size=block.shape) < 0.002] += 1.0
    assert not background.electrons_are_random(block, 0.15) and not background.electrons_are_random(block, 0.15, around)


def test_the_one_electron_peak_has_the_noise_width():
    rng = np.random.default_rng(4)
    comb = np.where(rng.uniform(size=(200, 300)) < 0.01, 1.0, 0.0) + rng.normal(0.0, 0.05, (200, 300))
    assert background.one_electron_peak(comb, 0.05)
    smooth = comb.copy()
    smooth[:, :60] = rng.uniform(0.0, 2.0, (200, 60))  # a glow's gradient: levels spread over the window
    assert not background.one_electron_peak(smooth, 0.05)


def test_skipper_frames_at_low_dark_current_are_recognised():
    """Science frames hold far less dark current than the DAMIC-M test frame: 0.001 electron a pixel."""
    from dataclasses import replace

    from ccdseg.evaluate.skipper_targets import skipper_test_frames
    from ccdseg.simulate.detector import random_detector

    frames = skipper_test_frames(20, 9301, detector=lambda rng: replace(random_detector(rng),
                                                                           dark_current_electrons_per_pixel=0.001))
    found = [background.single_electrons(frame.image) for frame in frames]
    assert sum(f is not None for f in found) >= 18  # 8 before one-electron pixels beside deposits were left out


def test_frames_whose_first_reading_of_the_noise_is_borderline_are_checked_by_the_whole_calibration():
    """At 0.33 electron of noise the histogram's overlapping peaks give noise / gain over 0.35 on some frames."""
    from dataclasses import replace

    from ccdseg.evaluate.skipper_targets import skipper_test_frames
    from ccdseg.simulate.detector import random_detector

    frames = skipper_test_frames(20, 9301, detector=lambda rng: replace(random_detector(rng), noise_electrons=0.33))
    found = [background.single_electrons(frame.image) for frame in frames]
    assert all(f is not None for f in found)  # 18 of 20 on the first reading alone
    assert all(abs(gain / frame.params.gain_adu_per_electron - 1) < 0.05 for (gain, _), frame in zip(found, frames))


def test_a_frame_whose_whole_fit_finds_no_comb_is_calibrated_with_the_first_readings_gain():
    """At 0.001 electron a pixel the bands of rows hold too few one-electron pixels for their own peak."""
    from dataclasses import replace

    import pytest

    from ccdseg.core.errors import UserInputError
    from ccdseg.evaluate.skipper_targets import skipper_test_frames
    from ccdseg.measure.frame_fit import fit_frame
    from ccdseg.simulate.detector import random_detector

    frame = skipper_test_frames(13, 8301, detector=lambda rng: replace(random_detector(rng),
                                                                         dark_current_electrons_per_pixel=0.001))[12]
    with pytest.raises(UserInputError, match="no 1-electron peak"):
        fit_frame(frame.image)
    measured = background.frame_background(frame.image)
    assert measured.fit is not None  # a skipper frame's calibration: its defects and the Poisson test of clusters
    assert measured.gain_adu_per_electron == pytest.approx(frame.params.gain_adu_per_electron, rel=0.03)


def test_a_glowing_block_at_twice_a_tail_peak_is_no_comb_of_electrons():
    """Other-physics frame 5 of seed 5151: noise 49 ADU, a glowing fifth of the frame 350 ADU up, and the
    zero peak's tail read as a peak at 120 ADU made a 'comb' of gain 175 ADU; Poisson charge cannot hold
    four times as many pixels at two electrons as at one while most hold none."""
    from ccdseg.measure.background import levels_are_poisson, single_electrons
    from ccdseg.simulate.populations import simulate_population

    frame = simulate_population("other-physics", 6, 5151, (256, 256))[0][5]
    assert single_electrons(frame) is None
    rng = np.random.default_rng(5)
    rising = rng.poisson(np.linspace(0.1, 3.0, 400)[:, None], (400, 600)) + rng.normal(0.0, 0.2, (400, 600))
    assert levels_are_poisson(rising) and levels_are_poisson(rng.poisson(4.0, (200, 300)) + rng.normal(0.0, 0.2, (200, 300)))
    glow = rng.normal(0.0, 0.3, (200, 300))
    glow[:, :60] += 2.0
    assert not levels_are_poisson(glow)
