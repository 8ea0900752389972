"""The experiment's own reconstruction (DAMIC-M) as a baseline finder: calibrate, mask defects, seed and grow.

The chain of `../shared/REFERENCE.md` ("The experiment's own reconstruction"):

1. Calibration of each frame from its own pixels: pedestal per row, gain,
   readout noise and dark current per band of rows (`measure.frame_fit.fit_frame`).
   Frames whose single electrons are not resolved (the 2020 DAMIC kind) take
   the gain given (or the simulation's) and the per-row pedestal and noise of
   `measure.background.ccd_row_background`.
2. Calibration to electrons, and to eV at `EV_PER_ELECTRON`.
3. Defects masked from lists, as the experiments do: on skipper frames column
   0 and the amplifier glow near the readout corner (glowing), hot columns and
   one-row serial-register streaks (hot pixel), all as measured by the
   calibration; on 2020-kind frames the glowing and hot-pixel bands of
   `finders.defect_labels`. Defect pixels never become cluster.
4. Clusters: pixels above the growth threshold, 8-connected, kept when they
   hold a seed pixel of at least max(`seed_sigma` x readout noise, `seed_ev`).

Two additions the experiment does not need at its own dark current (about 1e-3
electron per pixel in science runs) but test frames with about one electron
per pixel do: the growth threshold is counted from each pixel's expected dark
current, in spreads of a pixel holding dark current alone (sqrt(noise^2 +
lambda)), and the seed is raised, where the dark current is high, to the
charge that dark current alone reaches with probability `seed_false_alarm`
(Poisson). Without them half of all pixels hold an electron, every cluster
grows over the whole frame, and dark current of 2 electrons per pixel seeds
hundreds of one-pixel "clusters" per amplifier frame. At low dark current
both reduce to the experiment's rule.

Speed: a 320 x 640 skipper frame (DAMIC-M preset, about 130 clusters) takes
0.3 s on a busy 2-core machine, of which 0.25 s is the calibration fit
(`fit_frame`); a 256 x 256 frame of the 2020 kind 0.02 to 0.04 s.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, stats

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.core.morphology import components, pixels
from ccdseg.core.physics import EV_PER_ELECTRON
from ccdseg.evaluate.finders import _as_stack, defect_labels
from ccdseg.measure import calibration as skipper_calibration
from ccdseg.measure import frame_fit
from ccdseg.measure.background import ccd_row_background
from ccdseg.measure.calibration import grow_mask, kmax_for
from ccdseg.measure.matched_filter import seeded_components
from ccdseg.simulate.parameters import SimulationParameters

# %% Defaults (the experiment's: seed 15 noise sigma and 30 eV, REFERENCE.md)
SEED_SIGMA = 15.0
SEED_EV = 30.0
GROW_ELECTRONS = 0.5         # a pixel joins from one counted electron above its dark current...
GROW_SIGMA = 2.0             # ...and 2 spreads of a pixel holding dark current alone
SEED_FALSE_ALARM = 1e-7      # chance that dark current alone makes a seed pixel
GLOW_MIN_ELECTRONS = 1.0     # amplifier glow is glowing where its mean excess reaches this (as the simulation's truth)

REFERENCE_GRID: dict[str, tuple] = {  # 12 points; the defaults (15 sigma, 30 eV, 2 spreads) among them
    "seed_sigma": (5.0, 10.0, 15.0),     # binds on 2020-kind frames (15 sigma there is about 28 electrons)
    "seed_ev": (20.0, 30.0),             # binds on skipper frames (15 sigma there is about 2.4 electrons)
    "grow_sigma": (1.5, 2.0),
}


# %% Calibration
@dataclass(frozen=True)
class FrameCalibration:
    """One frame calibrated as the experiment does (see `calibrate_frame`).

    electrons : (h, w) float32, pedestal subtracted, electrons (dark current included).
    dark_electrons : (h, w) float32, expected dark current (and amplifier glow) of each pixel, electrons.
    noise_electrons : (h, 1) float32, readout noise of each row, electrons.
    labels : (h, w) uint8, BACKGROUND, GLOWING or HOT_PIXEL.
    excluded : (h, w) bool, pixels no cluster may use (the defects; dilated on 2020-kind frames).
    resolved : whether single electrons are resolved (a skipper frame).
    """

    electrons: np.ndarray
    dark_electrons: np.ndarray
    noise_electrons: np.ndarray
    labels: np.ndarray
    excluded: np.ndarray
    resolved: bool


def calibrate_frame(frame: np.ndarray, params: SimulationParameters | None = None,
                    gain_adu_per_electron: float | None = None) -> FrameCalibration:
    """Calibrate one frame (h, w) ADU to electrons and list its defects.

    Skipper frames: `fit_frame` (gain held when given). Frames whose single
    electrons are not resolved (the fit finds no 1-electron peak, or its
    noise exceeds `calibration.RESOLVED_NOISE_PER_GAIN` gains): gain given or
    `params.gain_adu_per_electron`, pedestal and noise per row from
    `ccd_row_background`, defects from `finders.defect_labels`. A skipper
    frame with too little dark current to show a 1-electron peak needs its
    gain given; otherwise it is taken for the 2020 kind.
    """
    try:
        fit = frame_fit.fit_frame(frame, gain_adu_per_electron)
    except UserInputError as error:
        if not str(error).startswith(skipper_calibration.NO_PEAK.split(":")[0]):
            raise
        fit = None
    if fit is not None and fit.fit.noise_adu < skipper_calibration.RESOLVED_NOISE_PER_GAIN * fit.fit.gain_adu:
        return _skipper_calibration(np.asarray(frame, dtype=np.float32), fit)
    params = params or SimulationParameters()
    gain = gain_adu_per_electron or params.gain_adu_per_electron
    return _unresolved_calibration(np.asarray(frame, dtype=np.float32), params, float(gain))


def _skipper_calibration(frame: np.ndarray, fit: frame_fit.FrameFit) -> FrameCalibration:
    """Electrons, expected dark current and defects of a skipper frame from its `FrameFit`."""
    height, width = frame.shape
    gain, noise_e = fit.fit.gain_adu, fit.fit.noise_adu / fit.fit.gain_adu
    electrons = ((frame - fit.pedestal_adu_per_row[:, None]) / gain).astype(np.float32)
    lambda_rows = np.zeros(height)
    for first, stop, lam in fit.dark_current_row_bands:
        lambda_rows[first:stop] = lam
    glow_amplitude, glow_length = fit.amplifier_glow
    glow = np.zeros((height, width), dtype=np.float32)
    if glow_amplitude > 0 and glow_length > 0:
        glow[...] = glow_amplitude * np.exp(-np.add.outer(np.arange(height), np.arange(width)) / glow_length)
    labels = np.full((height, width), BACKGROUND, dtype=np.uint8)
    labels[glow >= GLOW_MIN_ELECTRONS] = GLOWING
    labels[:, 0] = GLOWING
    labels[:, [column for column, _ in fit.hot_columns]] = HOT_PIXEL
    usable = np.isfinite(electrons) & (labels == BACKGROUND)
    with np.errstate(invalid="ignore"):
        usable &= ~grow_mask(electrons > kmax_for(fit.fit.lambda_electrons) + 0.5)
    labels[_streaks(electrons - glow, usable, lambda_rows, noise_e) & (labels == BACKGROUND)] = HOT_PIXEL
    dark = (lambda_rows[:, None] + glow).astype(np.float32)
    noise = np.full((height, 1), noise_e, dtype=np.float32)
    return FrameCalibration(electrons, dark, noise, labels, labels != BACKGROUND, True)


def _streaks(electrons: np.ndarray, usable: np.ndarray, lambda_rows: np.ndarray, noise_e: float) -> np.ndarray:
    """One-row serial-register streaks (h, w) bool: runs along a row holding far more charge than its dark current.

    The test of `frame_fit._frame_masks`, reimplemented here because that
    function does not return the streaks: windows of `frame_fit.STREAK_WINDOW_PX`
    columns whose charge (unusable pixels counted as the row's dark current)
    dark current alone exceeds with probability `frame_fit.FALSE_ALARM`.
    """
    window = min(frame_fit.STREAK_WINDOW_PX, electrons.shape[1])
    filled = np.where(usable, electrons, lambda_rows[:, None].astype(np.float32))
    sums = ndimage.uniform_filter1d(filled, window, axis=1) * window
    expected = window * np.maximum(lambda_rows, 1e-3)
    limit = stats.poisson.isf(frame_fit.FALSE_ALARM, expected) + 5.5 * noise_e * np.sqrt(window)
    return ndimage.maximum_filter1d(sums > limit[:, None], window, axis=1)


def _unresolved_calibration(frame: np.ndarray, params: SimulationParameters, gain: float) -> FrameCalibration:
    """Electrons and defects of a frame whose single electrons are not resolved (the 2020 DAMIC kind)."""
    if not gain > 0:
        raise UserInputError(f"the gain must be positive, not {gain} ADU per electron")
    pedestal, noise = ccd_row_background(frame)
    if not np.isfinite(pedestal).all():
        raise UserInputError("no row of this frame has enough finite pixels to measure its pedestal")
    labels, defects = defect_labels(frame[None], params)
    electrons = ((frame - pedestal[:, None]) / gain).astype(np.float32)
    noise_e = (np.maximum(noise, 1e-6) / gain).astype(np.float32)[:, None]
    dark = np.zeros(frame.shape, dtype=np.float32)
    return FrameCalibration(electrons, dark, noise_e, labels[0], defects[0], False)


# %% Clusters
def _check_arguments(seed_sigma: float, seed_ev: float, grow_electrons: float, grow_sigma: float,
                     seed_false_alarm: float, gain_adu_per_electron: float | None) -> None:
    """Raise UserInputError naming the first impossible finder argument."""
    if not seed_sigma > 0 or not seed_ev >= 0:
        raise UserInputError(f"seed_sigma must be > 0 and seed_ev >= 0, got {seed_sigma} and {seed_ev}")
    if not grow_electrons >= 0 or not grow_sigma >= 0:
        raise UserInputError(f"grow_electrons and grow_sigma must be >= 0, got {grow_electrons} and {grow_sigma}")
    if not 0 < seed_false_alarm < 1:
        raise UserInputError(f"seed_false_alarm must lie between 0 and 1, got {seed_false_alarm}")
    if gain_adu_per_electron is not None and not gain_adu_per_electron > 0:
        raise UserInputError(f"the gain must be positive, not {gain_adu_per_electron} ADU per electron")


def frame_clusters(calibration: FrameCalibration, seed_sigma: float = SEED_SIGMA, seed_ev: float = SEED_EV,
                   grow_electrons: float = GROW_ELECTRONS, grow_sigma: float = GROW_SIGMA,
                   seed_false_alarm: float = SEED_FALSE_ALARM) -> np.ndarray:
    """Cluster pixels (h, w) bool of a calibrated frame: grown pixels 8-connected to a seed, defects excluded.

    Growth: charge above the pixel's expected dark current of at least
    max(grow_electrons, grow_sigma x sqrt(noise^2 + dark)) electrons.
    Seed: charge of at least max(seed_sigma x noise, seed_ev / EV_PER_ELECTRON)
    electrons and above what the pixel's dark current alone (Poisson) exceeds
    with probability `seed_false_alarm`.
    """
    electrons, dark, noise = calibration.electrons, calibration.dark_electrons, calibration.noise_electrons
    allowed = ~calibration.excluded
    with np.errstate(invalid="ignore"):
        grow = (electrons - dark >= np.maximum(grow_electrons, grow_sigma * np.sqrt(noise**2 + dark))) & allowed
        seed = (electrons >= np.maximum(seed_sigma * noise, seed_ev / EV_PER_ELECTRON)) & allowed
    rows, cols = pixels(seed)
    guard = stats.poisson.isf(seed_false_alarm, np.maximum(dark[rows, cols], 1e-12)) + 0.5
    weak = electrons[rows, cols] < guard
    seed[rows[weak], cols[weak]] = False
    return seeded_components(grow[None], seed[None])[0]


def reference_labels(
    images: np.ndarray,
    params: SimulationParameters | None = None,
    gain_adu_per_electron: float | None = None,
    seed_sigma: float = SEED_SIGMA,
    seed_ev: float = SEED_EV,
    grow_electrons: float = GROW_ELECTRONS,
    grow_sigma: float = GROW_SIGMA,
    seed_false_alarm: float = SEED_FALSE_ALARM,
) -> np.ndarray:
    """The experiment's reconstruction as a finder: calibrate each frame, mask its defects, seed and grow clusters.

    Parameters
    ----------
    images : (h, w) or (n, h, w) float32 ADU, pedestal not subtracted.
    params : simulation parameters of 2020-kind frames (their glowing and
        hot-pixel bands, and the gain when none is given); skipper frames
        measure everything themselves.
    gain_adu_per_electron : ADU per electron; measured on skipper frames when None.
    seed_sigma : a cluster holds a pixel of at least this many readout-noise sigmas...
    seed_ev : ...and at least this energy, eV (the experiment: 15 sigma and 30 eV).
    grow_electrons : cluster pixels hold at least this many electrons above their expected dark current...
    grow_sigma : ...and this many spreads sqrt(noise^2 + dark current) of a pixel holding dark current alone.
    seed_false_alarm : the seed is raised to the charge that a pixel's dark
        current alone exceeds with this probability (matters from about 0.3
        electron of dark current per pixel).

    Returns
    -------
    (h, w) or (n, h, w) uint8 class ids: GLOWING and HOT_PIXEL for the
    masked defects, CLUSTER for reconstructed clusters, else BACKGROUND.
    """
    _check_arguments(seed_sigma, seed_ev, grow_electrons, grow_sigma, seed_false_alarm, gain_adu_per_electron)
    stack, single = _as_stack(images)
    labels = np.empty(stack.shape, dtype=np.uint8)
    for frame, frame_labels in zip(stack, labels):
        calibration = calibrate_frame(frame, params, gain_adu_per_electron)
        clusters = frame_clusters(calibration, seed_sigma, seed_ev, grow_electrons, grow_sigma, seed_false_alarm)
        frame_labels[...] = calibration.labels
        frame_labels[clusters & (calibration.labels == BACKGROUND)] = CLUSTER
    return labels[0] if single else labels


def reference_cluster_energies(images: np.ndarray, labels: np.ndarray, params: SimulationParameters | None = None,
                               gain_adu_per_electron: float | None = None) -> list[np.ndarray]:
    """Energy (eV) of every 8-connected CLUSTER object of each frame, as the experiment's catalogue gives it.

    images : (h, w) or (n, h, w) float32 ADU; labels : class ids of the same
    shape (e.g. from `reference_labels`). Each frame is calibrated again;
    an object's energy is the sum of its pixels' charge above their expected
    dark current, times `EV_PER_ELECTRON`. Returns one (k,) float64 array per
    frame, objects in no particular order.
    """
    stack, _ = _as_stack(images)
    label_stack = np.asarray(labels).reshape(stack.shape)
    energies = []
    for frame, frame_labels in zip(stack, label_stack):
        calibration = calibrate_frame(frame, params, gain_adu_per_electron)
        count, objects = components(frame_labels == CLUSTER)
        charge = np.nan_to_num(calibration.electrons - calibration.dark_electrons).astype(np.float64)
        sums = np.bincount(objects.ravel(), weights=charge.ravel(), minlength=count)
        energies.append(sums[1:] * EV_PER_ELECTRON)
    return energies


# %% photutils on the calibrated frame
PHOTUTILS_GRID: dict[str, tuple] = {"fwhm_px": (1.0, 1.5, 2.5), "threshold_sigma": (3.0, 5.0, 7.0, 9.0)}


def calibrated_photutils_labels(
    images: np.ndarray, params: SimulationParameters | None = None, gain_adu_per_electron: float | None = None,
    fwhm_px: float = 1.5, threshold_sigma: float = 3.0, npixels: int = 1,
) -> np.ndarray:
    """photutils `detect_sources` on each frame as the experiment calibrates it (`calibrate_frame`), defects masked.

    The charge above each pixel's expected dark current, in units of the
    spread of a pixel holding dark current alone (sqrt(noise^2 + dark
    current) electrons), is smoothed by a Gaussian of FWHM `fwhm_px` and
    segmented above `threshold_sigma` (`evaluate.finders.photutils_labels`
    is the same finder on 2020-kind frames; this one sees skipper frames as
    the reference does, so the two baselines are compared fairly).
    Returns class ids of `images`' shape: GLOWING and HOT_PIXEL for the
    calibration's defects, CLUSTER for segments, else BACKGROUND.
    """
    from photutils.segmentation import detect_sources, make_2dgaussian_kernel
    from photutils.utils import NoDetectionsWarning

    if fwhm_px <= 0 or npixels < 1:
        raise UserInputError(f"fwhm_px must be > 0 and npixels >= 1, got {fwhm_px} and {npixels}")
    stack, single = _as_stack(images)
    size = 2 * max(1, math.ceil(1.5 * fwhm_px)) + 1
    kernel = np.asarray(make_2dgaussian_kernel(fwhm_px, size=size).array, dtype=np.float32)
    labels = np.empty(stack.shape, dtype=np.uint8)
    for frame, frame_labels in zip(stack, labels):
        calibration = calibrate_frame(frame, params, gain_adu_per_electron)
        spread = np.sqrt(calibration.noise_electrons**2 + calibration.dark_electrons)
        z = np.where(calibration.excluded, 0.0, (calibration.electrons - calibration.dark_electrons) / spread)
        smoothed = ndimage.convolve(np.nan_to_num(z).astype(np.float32), kernel, mode="constant")
        noise = float(np.sqrt((kernel**2).sum()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoDetectionsWarning)
            segments = detect_sources(smoothed, threshold_sigma * noise, n_pixels=int(npixels), mask=calibration.excluded)
        frame_labels[...] = calibration.labels
        if segments is not None:
            frame_labels[(segments.data > 0) & (calibration.labels == BACKGROUND)] = CLUSTER
    return labels[0] if single else labels
