"""Pedestal and noise of a frame, the matched filter, and the input normalisation of the network (numpy only).

Frames are normalised once per whole frame, before any tiling: the pedestal
is subtracted and the result divided by the readout noise (both estimated
from the frame by `robust_background`), so a model does not depend on a
detector's pedestal or gain. An asinh stretch, linear up to ~50 sigma, then
keeps bright objects (hundreds of sigmas) in a range convolutions handle well
without flattening faint charge on top of glowing columns; a gain of 0.1 puts
one noise sigma at 0.1 and glowing columns near 6.

A normalisation with `matched_sigmas_px` adds a second input channel: the
matched-filter significance of the frame (the likelihood statistic of a
diffusion-limited point deposit, max over a bank of Gaussian kernels), in
noise sigmas and stretched the same way. It hands the network the optimal
detector of faint point deposits in white noise; the network adds what a
filter cannot know (glowing columns, hot pixels, shapes).
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.special import erf

from errors import UserInputError

# %% Settings - edit here when running top to bottom in Spyder
ASINH_SCALE = 50.0
INPUT_GAIN = 0.1
MATCHED_SIGMAS_PX = (0.3, 0.7, 1.2)
KERNEL_HALF_WIDTH_SIGMAS = 3.5
STATISTICS_MAX_PX = 1_000_000
NORMALISATION = {"method": "robust-asinh", "asinh_scale": ASINH_SCALE, "gain": INPUT_GAIN}
MATCHED_NORMALISATION = {**NORMALISATION, "matched_sigmas_px": list(MATCHED_SIGMAS_PX)}
# the original's input: the frame in ADU as it is (no pedestal, noise or stretch); for the ablation of train.py --raw-adu
ADU_NORMALISATION = {"method": "adu"}


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

    Objects (glowing columns, hot pixels, clusters) only add charge, so the
    pixels below the pedestal are pure noise. First pass: median and the
    median distance of the lower half. Second pass: the median of pixels below
    that median + 3 sigma is the pedestal; 1.4826 x the median distance below
    it is the noise. NaN and inf pixels are ignored; big frames are sampled
    (`statistics_sample`). Both outputs have shape (..., 1, 1) so they
    broadcast against `images` (..., h, w).
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


def gaussian_profile(sigma_px: float) -> np.ndarray:
    """(s,) float64 pixel-integrated 1-D Gaussian of diffusion sigma `sigma_px`, centred, sum 1.

    The 2-D kernel of a point deposit is its outer product with itself.
    """
    half = max(1, math.ceil(KERNEL_HALF_WIDTH_SIGMAS * sigma_px))
    edges = np.arange(-half, half + 2, dtype=np.float64) - 0.5
    profile = np.diff(0.5 * (1.0 + erf(edges / (math.sqrt(2.0) * sigma_px))))
    return profile / profile.sum()


def matched_filter(z: np.ndarray, sigmas_px=MATCHED_SIGMAS_PX, out: np.ndarray | None = None) -> np.ndarray:
    """Matched-filter significance of frames z (..., h, w) in noise sigmas, max over a kernel bank.

    For each Gaussian kernel k the significance is (z correlated with k) /
    sqrt(sum k^2): N(0, 1) at every pixel of pure noise, the likelihood-ratio
    statistic for a deposit of shape k. Separable (OpenCV), so a 4k x 4k
    frame takes a fraction of a second. NaN pixels count as 0. Returns float32
    of z's shape, written into `out` when given (a float32 array of that shape,
    possibly strided, e.g. a channel of the network input).
    """
    if len(sigmas_px) == 0 or min(sigmas_px) <= 0:
        raise UserInputError(f"matched-filter sigmas must be positive, not {list(sigmas_px)}")
    z = np.ascontiguousarray(z, dtype=np.float32)
    if not np.isfinite(z).all():
        z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
    frames = z.reshape(-1, *z.shape[-2:])
    best = np.empty(z.shape, dtype=np.float32) if out is None else out
    best_frames = best.reshape(frames.shape)  # a view: `out` holds frames of z's shape
    for number, sigma_px in enumerate(sigmas_px):
        profile = gaussian_profile(float(sigma_px)).astype(np.float32)
        norm = np.float32((profile**2).sum())
        for frame, frame_best in zip(frames, best_frames):
            filtered = cv2.sepFilter2D(frame, cv2.CV_32F, profile, profile, borderType=cv2.BORDER_CONSTANT)
            filtered /= norm
            if number == 0:
                frame_best[...] = filtered
            else:
                np.maximum(frame_best, filtered, out=frame_best)
    return best


def input_channels(normalisation: dict | None = None) -> int:
    """Channels of the network's input under a normalisation: 1, or 2 with the matched filter."""
    return 2 if (normalisation or NORMALISATION).get("matched_sigmas_px") else 1


def stretch(sigmas, normalisation: dict | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Values in noise sigmas (array or number) as the network sees them: gain x scale x asinh(v / scale).

    Increasing, so comparisons are the same before and after it: the
    decision rule compares the network's stretched input with stretched
    thresholds instead of undoing the stretch on whole frames. With `out`
    (a float32 array holding the values) the stretch is done in place, as
    `normalise_frames` does on whole frames; otherwise a float32 copy is
    returned.
    """
    normalisation = normalisation or NORMALISATION
    scale = float(normalisation.get("asinh_scale", ASINH_SCALE))
    gain = float(normalisation.get("gain", 1.0))
    values = np.array(sigmas, dtype=np.float32) if out is None else out
    values /= np.float32(scale)
    np.arcsinh(values, out=values)
    values *= np.float32(gain * scale)
    return values


def normalise_frames(images: np.ndarray, normalisation: dict | None = None) -> np.ndarray:
    """Robust standardisation of each whole frame, then an asinh stretch; the network's input.

    images : (h, w) or (n, h, w) ADU, NaN allowed (ignored by the statistics,
        set to 0 in the output).
    normalisation : a model card's normalisation (default `NORMALISATION`);
        `ADU_NORMALISATION` passes the frames through in ADU (NaN set to 0),
        as the original fed its network.

    Returns float32 (..., h, w, channels): channel 0 the stretched frame,
    channel 1 (with `matched_sigmas_px`) its stretched matched-filter
    significance (`matched_filter`).
    """
    normalisation = normalisation or NORMALISATION
    if normalisation.get("method") == "adu":
        out = np.asarray(images, dtype=np.float32)[..., None].copy()
        return out if np.isfinite(out).all() else np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    if normalisation.get("method") != "robust-asinh":
        raise UserInputError(f"unknown normalisation {normalisation.get('method')!r}")
    images = np.asarray(images, dtype=np.float32)
    pedestal, sigma = robust_background(images)
    sigma = np.where(sigma > 0, sigma, 1.0).astype(np.float32)
    z = images - pedestal
    z /= sigma
    if not np.isfinite(z).all():
        np.nan_to_num(z, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    out = np.empty(images.shape + (input_channels(normalisation),), dtype=np.float32)
    out[..., 0] = z
    if out.shape[-1] == 2:
        matched_filter(z, normalisation["matched_sigmas_px"], out=out[..., 1])
    return stretch(out, normalisation, out=out)
