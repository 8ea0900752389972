"""Pedestal and noise of a frame, and the input normalisation of the network (numpy only).

Frames are normalised once per whole frame, before any tiling: the pedestal
is subtracted and the result divided by the readout noise (both estimated
from the frame by `robust_background`), so a model does not depend on a
detector's pedestal or gain. An asinh stretch, linear up to ~50 sigma, then
keeps bright objects (hundreds of sigmas) in a range convolutions handle well
without flattening faint charge on top of glowing columns; a gain of 0.1 puts
one noise sigma at 0.1 and glowing columns near 6.
"""
from __future__ import annotations

import numpy as np

from errors import UserInputError

# %% Settings - edit here when running top to bottom in Spyder
ASINH_SCALE = 50.0
INPUT_GAIN = 0.1
NORMALISATION = {"method": "robust-asinh", "asinh_scale": ASINH_SCALE, "gain": INPUT_GAIN}


# %% Functions
def robust_background(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return per-frame pedestal and readout noise, ADU, robust to bright objects.

    Objects (glowing columns, hot pixels, clusters) only add charge, so the
    pixels below the pedestal are pure noise. First pass: median and the
    median distance of the lower half. Second pass: the median of pixels below
    that median + 3 sigma is the pedestal; 1.4826 x the median distance below
    it is the noise. NaN pixels are ignored. Both outputs have shape
    (..., 1, 1) so they broadcast against `images` (..., h, w).
    """
    images = np.asarray(images, dtype=np.float32)
    axes = (-2, -1)
    median = np.nanmedian(images, axis=axes, keepdims=True)
    below = np.where(images <= median, median - images, np.nan)
    sigma = 1.4826 * np.nanmedian(below, axis=axes, keepdims=True)
    clipped = np.where(images <= median + 3.0 * sigma, images, np.nan)
    pedestal = np.nanmedian(clipped, axis=axes, keepdims=True)
    below = np.where(images <= pedestal, pedestal - images, np.nan)
    sigma = 1.4826 * np.nanmedian(below, axis=axes, keepdims=True)
    sigma = np.where(np.isfinite(sigma), sigma, 0.0)
    pedestal = np.where(np.isfinite(pedestal), pedestal, 0.0)
    return pedestal.astype(np.float32), sigma.astype(np.float32)


def significance(images: np.ndarray) -> np.ndarray:
    """(images - pedestal) / noise per frame: each pixel in noise sigmas, float32, NaN kept."""
    pedestal, sigma = robust_background(images)
    return ((np.asarray(images, dtype=np.float32) - pedestal) / np.maximum(sigma, 1e-6)).astype(np.float32)


def normalise_frames(images: np.ndarray, normalisation: dict | None = None) -> np.ndarray:
    """Robust standardisation of each whole frame, then an asinh stretch.

    images : (h, w) or (n, h, w) ADU, NaN allowed (ignored by the statistics,
        set to 0 in the output). Returns float32 of the same shape.
    normalisation : a model card's normalisation (default `NORMALISATION`).
    """
    normalisation = normalisation or NORMALISATION
    if normalisation.get("method") != "robust-asinh":
        raise UserInputError(f"unknown normalisation {normalisation.get('method')!r}")
    scale = float(normalisation.get("asinh_scale", ASINH_SCALE))
    images = np.asarray(images, dtype=np.float32)
    pedestal, sigma = robust_background(images)
    sigma = np.where(sigma > 0, sigma, 1.0).astype(np.float32)
    standard = (images - pedestal) / sigma
    gain = float(normalisation.get("gain", 1.0))
    out = gain * scale * np.arcsinh(standard / scale)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
