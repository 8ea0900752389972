"""Pedestal and readout noise of whole frames, robust to the objects on them.

Objects (glowing columns, hot pixels, clusters, dark-current electrons) only
add charge, so the pixels below the pedestal are pure noise: both figures are
taken from the lower side of the pixel distribution.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, special, stats

from ccdseg.core.errors import UserInputError
from ccdseg.measure.quantisation import dequantised

# %% Defaults
STATISTICS_MAX_PX = 1_000_000
BACKGROUND_COLUMNS = 1024  # columns of a frame its row-by-row background is measured on
ROW_SMOOTHING = 9  # rows of the running median of per-row figures
RANDOM_NEIGHBOUR_RATIO = 2.5  # one-electron pixels this much likelier beside each other than around are no dark current
RANDOM_WINDOW_PX = 15  # the square around a pixel its neighbour is compared with
RANDOM_MIN_PX = 20  # one-electron pixels, away from deposits, that scatter can be judged on
DEPOSIT_CHANCE = 1e-4  # a pixel charge dark current makes less often than this is a deposit's (`electrons_are_random`)
BORDERLINE_NOISE_PER_GAIN = 0.45  # a first reading of noise / gain from 0.35 to this is checked by the whole calibration
PEAK_SHARE = 0.8  # of the pixels of 0.5 to 1.5 electrons, at least this share in the one-electron peak
MIN_BACKGROUND_SHARE = 0.2  # fewer pixels than this near the background: it is not trusted
COMB_ZERO_SHARE = 0.3  # a comb with at least this share of pixels at zero electrons (dark current under ~1.2 e/px)
COMB_TWO_SHARE = 0.05  # and more than this share at two electrons, twice as many as at one, is no Poisson charge


# %% Functions
def statistics_sample(images: np.ndarray, max_px: int = STATISTICS_MAX_PX) -> np.ndarray:
    """The pixels the pedestal and noise are estimated from: all of them, or a regular grid on big frames.

    A frame of more than `max_px` pixels is sampled every k-th row and
    column (k the smallest that brings it under `max_px`): a 4k x 4k frame
    keeps every 5th row and column, 0.67 M pixels, whose pedestal and noise
    were within 0.003 noise sigma and 0.1 % of the whole frame's on simulated
    frames, in 0.03 s instead of 1.3 s. Frames the size of the training
    frames are used whole.
    """
    step = max(1, math.ceil(math.sqrt(images.shape[-2] * images.shape[-1] / max_px)))
    return images[..., ::step, ::step] if step > 1 else images


def robust_background(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return per-frame pedestal and readout noise, ADU, robust to bright objects.

    First pass: median and the median distance of the lower half. Second
    pass: the median of pixels below that median + 3 sigma is the pedestal;
    1.4826 x the median distance below it is the noise. NaN and inf pixels
    are ignored; big frames are sampled (`statistics_sample`). Both outputs
    have shape (..., 1, 1) so they broadcast against `images` (..., h, w).
    """
    images = np.asarray(images, dtype=np.float32)
    sample = statistics_sample(images)
    frames = sample.reshape(-1, sample.shape[-2] * sample.shape[-1])
    pedestal = np.zeros(len(frames), dtype=np.float32)
    sigma = np.zeros(len(frames), dtype=np.float32)
    for i, frame in enumerate(frames):
        values = frame[np.isfinite(frame)]
        if values.size == 0:
            continue
        median = np.median(values)
        spread = np.float32(1.4826) * np.median(median - values[values <= median])
        pedestal[i] = np.median(values[values <= median + np.float32(3.0) * spread])
        sigma[i] = np.float32(1.4826) * np.median(pedestal[i] - values[values <= pedestal[i]])
    shape = images.shape[:-2] + (1, 1)
    return pedestal.reshape(shape), sigma.reshape(shape)


def significance(images: np.ndarray) -> np.ndarray:
    """(images - pedestal) / noise per frame: each pixel in noise sigmas, float32, NaN kept."""
    pedestal, sigma = robust_background(images)
    return ((np.asarray(images, dtype=np.float32) - pedestal) / np.maximum(sigma, 1e-6)).astype(np.float32)


# %% The background of each row, in both regimes
@dataclass(frozen=True)
class Background:
    """The background of one frame, row by row, ADU: where it lies and how wide it is.

    level_adu : (h,) the background's middle: the pedestal, plus the mean
        dark current where single electrons are resolved.
    spread_adu : (h,) its width: readout noise and, on skipper frames, the
        dark current's Poisson spread (gain x sqrt(noise^2 + lambda) in electrons).
    gain_adu_per_electron : the gain where single electrons are resolved, else None.
    noise_adu : readout noise of one pixel.
    trusted : False when no background could be found (`note` says why).
    fit : on skipper frames, the frame's whole calibration (`frame_fit.FrameFit`:
        pedestal per row, dark current per band, hot columns, glow, streaks).
    """

    level_adu: np.ndarray
    spread_adu: np.ndarray
    gain_adu_per_electron: float | None
    noise_adu: float
    trusted: bool = True
    note: str = ""
    fit: object = field(default=None, repr=False)


def _sorted_rows(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row sorted (NaN last) and its count of finite pixels, (h, n) and (h,)."""
    return np.sort(sample, axis=1), np.isfinite(sample).sum(axis=1)


def _at(sorted_rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.take_along_axis(sorted_rows, np.clip(index, 0, sorted_rows.shape[1] - 1)[:, None], axis=1)[:, 0]


def ccd_row_background(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pedestal and noise of each row (h,) ADU where single electrons are not resolved: `robust_background` per row.

    The same two passes on the lower side of each row's pixels (objects only
    add charge), computed on sorted rows (no per-row loop), then smoothed
    over rows: a running median of `ROW_SMOOTHING` rows for the pedestal,
    of 31 rows for the noise (constant on a CCD).
    """
    srt, count = _sorted_rows(sample.astype(np.float32))
    half = np.maximum(count - 1, 0) // 2
    median = _at(srt, half)
    spread = 1.4826 * (median - _at(srt, half // 2))
    below = (srt <= (median + 3.0 * spread)[:, None]).sum(axis=1)
    pedestal = _at(srt, np.maximum(below - 1, 0) // 2)
    noise = 1.4826 * (pedestal - _at(srt, np.maximum(below - 1, 0) // 4))
    good = count >= 8
    if not good.any():
        return np.full(len(sample), np.nan), np.full(len(sample), np.nan)
    rows = np.arange(len(sample))
    pedestal = np.interp(rows, rows[good], ndimage.median_filter(pedestal[good], ROW_SMOOTHING, mode="nearest"))
    noise = np.interp(rows, rows[good], ndimage.median_filter(noise[good], 31, mode="nearest"))
    return pedestal, noise


def one_electron_peak(electrons: np.ndarray, noise_electrons: float) -> bool:
    """Whether the pixels of 0.5 to 1.5 electrons (electrons (h, w), pedestal subtracted) are a peak at one electron.

    One electron read with the readout noise `noise_electrons` lies within
    three noise sigmas (and 0.1 electron, the gain's first estimate) of 1;
    `PEAK_SHARE` of those pixels must. A level spread over the window (a
    glow of a frame whose electrons are not resolved, whose noise makes the
    comb's peaks look narrow) fills the window evenly instead. And within one
    sigma of 1 there must be more pixels than within one sigma of -1 (where
    only the zero peak's tail reaches), by 5 standard deviations and 10
    pixels: on a frame whose electrons are not resolved, the window may hold
    nothing but that tail.
    """
    sigma = max(noise_electrons, 1e-3)
    with np.errstate(invalid="ignore"):
        window = electrons[(electrons > 0.5) & (electrons < 1.5)]
        mirror = np.count_nonzero(np.abs(electrons + 1.0) < sigma)
    if window.size == 0 or np.mean(np.abs(window - 1.0) < 3.0 * sigma + 0.1) < PEAK_SHARE:
        return False
    return bool(np.count_nonzero(np.abs(window - 1.0) < sigma) > mirror + 5.0 * np.sqrt(mirror) + 10.0)


def levels_are_poisson(electrons: np.ndarray) -> bool:
    """Whether the shares of pixels at 0, 1 and 2 electrons (electrons, any shape, pedestal subtracted) can be dark current.

    Poisson charge holds more pixels at two electrons than at one only where
    its mean exceeds two, and twice as many only where it exceeds four,
    where hardly a pixel is empty: with `COMB_ZERO_SHARE` of the pixels
    empty, that takes a dark third of the frame beside a rest at over four
    electrons a pixel, which no frame of the DAMIC-M range is. A frame whose
    electrons are not resolved can show a "comb" whose one-electron peak is
    the noise's tail (the dark current's skew) and whose two-electron peak
    is a glowing block's level (a fifth of the pixels): more than
    `COMB_TWO_SHARE` of the pixels at two electrons and twice as many as at
    one is such a comb.
    """
    finite = electrons[np.isfinite(electrons)]
    if finite.size == 0:
        return False
    zero, one, two = (np.count_nonzero(np.abs(finite - k) < 0.5) / finite.size for k in range(3))
    return not (zero >= COMB_ZERO_SHARE and two > max(2.0 * one, COMB_TWO_SHARE))


def electrons_are_random(electrons: np.ndarray, noise_electrons: float, around_px: int | None = None) -> bool:
    """Whether the one-electron pixels of a frame (electrons (h, w), pedestal subtracted) are scattered as dark current is.

    Dark-current electrons fall at random: a pixel's neighbour is in the
    one-electron peak about as often as any pixel of the frame, or (given
    `around_px`) as any pixel of the square of that side around it, for the
    dark current may rise with the row and glow near the readout corner. A
    glowing block whose level happens to look like the next peak of a comb
    is contiguous instead (the neighbour is nearly always there too); in
    squares, one that holds more one-electron pixels than any Poisson
    charge makes, or too few pixels of none (under a tenth of the one-electron
    share where that share is over a tenth; Poisson charge holds at least a
    quarter), is no dark current. Neighbours are taken along the row and
    along the column, and the lower ratio counts: a serial streak or a hot
    column of about one electron a pixel is a line. Pixels beside a deposit
    are left out (a pixel charge the frame's dark current makes less often
    than `DEPOSIT_CHANCE`, the dark current read off the zero peak's share
    with the readout noise `noise_electrons`): a deposit's halo lies beside
    itself along a track, and at low dark current it is most of the peak.
    Fewer than `RANDOM_MIN_PX` such pixels show no scatter.
    """
    with np.errstate(invalid="ignore"):
        one = (electrons > 0.5) & (electrons < 1.5)
        zero = np.abs(electrons) < 0.5
        zero_peak = np.mean(zero) / special.erf(0.5 / (np.sqrt(2.0) * max(noise_electrons, 1e-3)))
        lambda_e = -np.log(min(max(zero_peak, 1e-6), 1.0))  # the zero peak holds exp(-lambda) of the pixels
        deposit = max(float(stats.poisson.isf(DEPOSIT_CHANCE, max(lambda_e, 1e-6))) + 0.5, 1.5)
        one &= ~ndimage.binary_dilation(electrons >= deposit, np.ones((3, 3), bool))
    count = np.count_nonzero(one)
    if count < RANDOM_MIN_PX:
        return False
    if around_px is None:
        share = np.broadcast_to(np.float32(count / one.size), one.shape)
    else:
        share = ndimage.uniform_filter(one.astype(np.float32), around_px, mode="nearest")
        zeros = ndimage.uniform_filter(zero.astype(np.float32), around_px, mode="nearest")
        if np.count_nonzero(one & ((share > 0.5) | ((share > 0.1) & (zeros < 0.1 * share)))) > 0.1 * count:
            return False
    pairs = [(np.count_nonzero(one[:, 1:] & one[:, :-1]), float(share[:, 1:][one[:, :-1]].sum())),
             (np.count_nonzero(one[1:] & one[:-1]), float(share[1:][one[:-1]].sum()))]
    return min(seen - RANDOM_NEIGHBOUR_RATIO * expected for seen, expected in pairs) < 0.02 * count


def skipper_background(frame: np.ndarray, gain: float) -> Background:
    """The background of a frame whose single electrons are resolved, from its whole calibration (`frame_fit.fit_frame`).

    Level = pedestal of each row + gain x its dark current (the fitted bands,
    straight between their centres); spread = gain x sqrt(noise^2 + dark
    current), readout noise and Poisson together, in electrons. The frame's
    own fit is kept (`Background.fit`) for its defects and its gain.
    """
    from ccdseg.measure.defects import dark_current_rows
    from ccdseg.measure.frame_fit import fit_frame

    fit = fit_frame(frame.astype(np.float64), gain if gain else None)
    gain, noise = fit.fit.gain_adu, fit.fit.noise_adu
    lam = dark_current_rows(fit)
    level = fit.pedestal_adu_per_row + gain * lam
    return Background(level, gain * np.sqrt((noise / gain) ** 2 + lam), float(gain), float(noise), fit=fit)


def _column_sample(frame: np.ndarray, max_columns: int) -> np.ndarray:
    """Every row of a frame, its columns sampled down to `max_columns`."""
    return frame[:, :: max(1, math.ceil(frame.shape[1] / max_columns))]


def _calibrated(frame: np.ndarray, gain: float, noise: float) -> tuple[float, float]:
    """(gain, noise) ADU of the frame's whole calibration (`frame_fit.fit_frame`), or the ones given when it fails."""
    from ccdseg.measure.frame_fit import fit_frame

    try:
        fit = fit_frame(np.asarray(frame, dtype=np.float64)).fit
    except UserInputError:
        return gain, noise
    return fit.gain_adu, fit.noise_adu


def single_electrons(frame: np.ndarray, max_columns: int = BACKGROUND_COLUMNS) -> tuple[float, float] | None:
    """(gain, readout noise) ADU of a frame whose single electrons are resolved (a skipper frame); None otherwise.

    Resolved: the pixel distribution, each row taken from its 2 % quantile
    (the pedestal may drift by more than an electron over a frame), shows a
    comb of peaks (`calibration.estimate_start`) whose levels hold pixels
    as Poisson charge can (`levels_are_poisson`); its readout noise is below
    0.35 gain (where the histogram's first reading says 0.35 to 0.45, the
    frame's whole calibration, `frame_fit.fit_frame`, has the last word: its
    overlapping peaks sit closer than the gain); and its one-electron pixels
    are scattered as dark current is (`electrons_are_random`), over the
    whole frame or, where the dark current varies, around each pixel, when
    they also are a peak of the readout noise at one electron
    (`one_electron_peak`: a glow's gradient on a frame whose electrons are
    not resolved is locally random too). From a sample: tens of ms. Values
    quantised onto a grid are spread over their step first
    (`quantisation.dequantised`).
    """
    from ccdseg.measure.calibration import RESOLVED_NOISE_PER_GAIN, estimate_start

    sample = dequantised(_column_sample(np.asarray(frame, dtype=np.float32), max_columns))
    srt, count = _sorted_rows(sample)
    grid = statistics_sample(sample - _at(srt, (count * 0.02).astype(np.int64))[:, None])
    try:
        start = estimate_start(grid[np.isfinite(grid)])
    except UserInputError:  # too few pixels or no spread: no comb to look for
        return None
    gain, noise = start["gain_adu"], start["noise_adu"]
    if gain is not None and RESOLVED_NOISE_PER_GAIN * gain <= noise < BORDERLINE_NOISE_PER_GAIN * gain:
        gain, noise = _calibrated(frame, gain, noise)  # overlapping peaks read off the histogram sit too close
    if gain is None or not noise < RESOLVED_NOISE_PER_GAIN * gain:
        return None
    electrons, sigma = (grid - start["offset_adu"]) / gain, noise / gain
    if not levels_are_poisson(electrons):
        return None
    random = electrons_are_random(electrons, sigma) or (
        one_electron_peak(electrons, sigma) and electrons_are_random(electrons, sigma, RANDOM_WINDOW_PX))
    return (gain, noise) if random else None


def frame_background(frame: np.ndarray, max_columns: int = BACKGROUND_COLUMNS) -> Background:
    """The background of one frame (h, w) ADU, row by row, in either regime (NaN pixels ignored).

    Where single electrons are resolved (`single_electrons`): the frame's
    whole calibration, on the whole frame (`skipper_background`; where its
    fit finds no comb of its own, as at very low dark current, with the gain
    `single_electrons` read held); else
    `ccd_row_background` on every row, its columns sampled down to
    `max_columns`. The background is not trusted (and its level and spread
    are those of the whole frame) when fewer than `MIN_BACKGROUND_SHARE` of
    the pixels lie within 4 spreads of it. Values quantised onto a grid
    (a `.fz` file without dither) are measured spread over their step
    (`quantisation.dequantised`).
    """
    frame = dequantised(np.asarray(frame, dtype=np.float32))
    sample = _column_sample(frame, max_columns)
    resolved = single_electrons(frame, max_columns)
    for gain in [] if resolved is None else [None, resolved[0]]:
        try:
            return _checked(skipper_background(frame, gain), sample)
        except UserInputError:  # the whole frame's fit found no comb: again with the first reading's gain held
            continue
    level, noise_rows = ccd_row_background(sample)
    return _checked(Background(level, noise_rows, None, float(np.nanmedian(noise_rows))), sample)


def _checked(background: Background, sample: np.ndarray) -> Background:
    """`background`, or the whole frame's robust figures marked untrusted when no background is found."""
    level, spread = background.level_adu[:, None], background.spread_adu[:, None]
    with np.errstate(invalid="ignore"):
        near = np.abs(sample - level) <= 4.0 * spread
    finite = np.isfinite(sample)
    share = np.count_nonzero(near & finite) / max(np.count_nonzero(finite), 1)
    good = np.all(np.isfinite(background.level_adu)) and np.all(background.spread_adu > 0)
    if good and share >= MIN_BACKGROUND_SHARE:
        return background
    pedestal, sigma = robust_background(sample)
    fallback = float(sigma.reshape(())) if float(sigma.reshape(())) > 0 else 1.0
    note = (f"no background found: only {share:.0%} of the pixels lie near the pedestal" if good
            else "no background found: the pedestal or noise of some rows cannot be measured")
    return Background(np.full(len(sample), float(pedestal.reshape(()))), np.full(len(sample), fallback),
                      background.gain_adu_per_electron, background.noise_adu, False, note, background.fit)
