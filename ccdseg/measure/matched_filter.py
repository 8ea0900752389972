"""The matched filter: the optimal detector of a faint diffusion-limited point deposit in white noise.

A bank of Gaussian kernels covers the diffusion range; the significance of
a pixel is the largest likelihood statistic over the bank. Detections are
its local maxima above a threshold, grown onto their bright neighbours
(seeded 8-connected growth), as DAMIC's likelihood clustering does.
"""
from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
from scipy.special import erf

from ccdseg.core.errors import UserInputError
from ccdseg.core.morphology import components, pixels

# %% Defaults
SIGMAS_PX = (0.3, 0.7, 1.2)
KERNEL_HALF_WIDTH_SIGMAS = 3.5


# %% The filter
def gaussian_profile(sigma_px: float) -> np.ndarray:
    """(s,) float64 pixel-integrated 1-D Gaussian of diffusion sigma `sigma_px`, centred, sum 1.

    The 2-D kernel of a point deposit is its outer product with itself.
    """
    half = max(1, math.ceil(KERNEL_HALF_WIDTH_SIGMAS * sigma_px))
    edges = np.arange(-half, half + 2, dtype=np.float64) - 0.5
    profile = np.diff(0.5 * (1.0 + erf(edges / (math.sqrt(2.0) * sigma_px))))
    return profile / profile.sum()


def matched_filter(z: np.ndarray, sigmas_px=SIGMAS_PX, out: np.ndarray | None = None) -> np.ndarray:
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


# %% Detections
def seeded_components(grow: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """8-connected components (per frame) of `grow` that contain a `seed` pixel, (n, h, w) bool."""
    kept = np.zeros(grow.shape, dtype=bool)
    for frame_grow, frame_seed, frame_kept in zip(grow, seed, kept):
        seed_rows, seed_cols = pixels(frame_seed)
        if seed_rows.size == 0:
            continue
        region = frame_grow | frame_seed
        count, labels = components(region)
        keep = np.zeros(count, dtype=bool)
        keep[labels[seed_rows, seed_cols]] = True
        rows, cols = pixels(region)
        inside = keep[labels[rows, cols]]
        frame_kept[rows[inside], cols[inside]] = True
    return kept


def local_maxima(values: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The `candidates` (n, h, w) bool that are at least as high as their 8 neighbours in `values` (n, h, w).

    Only the candidate pixels are visited (detections are sparse), so a
    4k x 4k frame costs next to nothing.
    """
    found = [pixels(frame_candidates) for frame_candidates in candidates]
    frame = np.repeat(np.arange(len(found)), [len(rows) for rows, _ in found])
    row = np.concatenate([np.zeros(0, dtype=np.int64)] + [rows for rows, _ in found])
    col = np.concatenate([np.zeros(0, dtype=np.int64)] + [cols for _, cols in found])
    height, width = values.shape[-2:]
    centre = values[frame, row, col]
    keep = np.ones(centre.shape, dtype=bool)
    for d_row, d_col in itertools.product((-1, 0, 1), repeat=2):
        r, c = row + d_row, col + d_col
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        neighbour = values[frame, np.clip(r, 0, height - 1), np.clip(c, 0, width - 1)]
        keep &= ~inside | (centre >= neighbour)
    peaks = np.zeros(candidates.shape, dtype=bool)
    peaks[frame[keep], row[keep], col[keep]] = True
    return peaks


def matched_clusters(
    significance: np.ndarray, z: np.ndarray, defects: np.ndarray, threshold: float, grow_sigma: float
) -> np.ndarray:
    """Detections (significance >= threshold) grown onto pixels above `grow_sigma`, (n, h, w) bool.

    significance, z : (n, h, w) noise sigmas; defects : (n, h, w) bool, never cluster.

    Seeds are the local maxima of the significance inside detections, so a
    faint deposit whose pixels all lie below `grow_sigma` still keeps its
    brightest pixel; whole clusters come from 8-connected growth on z.
    """
    detected = (significance >= threshold) & ~defects
    peaks = local_maxima(significance, detected)
    return seeded_components((z >= grow_sigma) & ~defects, peaks)
