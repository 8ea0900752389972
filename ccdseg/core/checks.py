"""Input checks: what counts as a frame and as a truth map, one set of rules for every input path.

FITS files, .npy stacks, PNG images and simulated data sets all pass through
these checks, so a frame refused on one path is refused on every other, with
a one-line message that names where it came from.
"""
from __future__ import annotations

import numpy as np

from ccdseg.core.classes import N_CLASSES
from ccdseg.core.errors import UserInputError

# %% Rules
MIN_FRAME_PX = 16


# %% Functions
def check_frames(images: np.ndarray, source: str = "frames") -> np.ndarray:
    """Frames (h, w) or (n, h, w) of real ADU values as a float32 stack (n, h, w).

    Refused, with `UserInputError` naming `source`: other shapes, complex or
    non-numeric values, frames smaller than `MIN_FRAME_PX` on a side, and a
    frame whose pixels are all NaN or infinite. NaN and inf pixels are kept
    (segmentation masks them as background).
    """
    images = np.asarray(images)
    if images.dtype.kind not in "biuf":
        raise UserInputError(f"{source}: values of type {images.dtype} are not real numbers (ADU)")
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3:
        raise UserInputError(f"{source}: expected a frame (h, w) or a stack (n, h, w), got shape {images.shape}")
    if len(images) == 0:
        raise UserInputError(f"{source}: holds no frame")
    if min(images.shape[1:]) < MIN_FRAME_PX:
        raise UserInputError(
            f"{source}: frames of {images.shape[1]} x {images.shape[2]} px are too small;"
            f" at least {MIN_FRAME_PX} x {MIN_FRAME_PX} px are needed"
        )
    images = images.astype(np.float32, copy=False)
    empty = ~np.isfinite(images).any(axis=(1, 2))
    if empty.any():
        raise UserInputError(f"{source}: frame {int(np.argmax(empty))} has only NaN or infinite pixels")
    return images


def check_truth(truth: np.ndarray, shape: tuple[int, ...] | None = None, source: str = "truth") -> np.ndarray:
    """Truth class ids as uint8, checked: whole numbers 0..N_CLASSES-1 and, if given, the frames' `shape`.

    A float map holding only whole numbers (as a PNG or a float .npy may) is
    accepted; 2.7, -1, 7 or 259 are refused, never wrapped or rounded.
    """
    truth = np.asarray(truth)
    if truth.dtype.kind not in "biuf":
        raise UserInputError(f"{source}: values of type {truth.dtype} are not class ids")
    if shape is not None:
        if truth.ndim == len(shape) - 1:
            truth = truth[None]
        if truth.shape != tuple(shape):
            raise UserInputError(f"{source}: shape {truth.shape} differs from the frames' {tuple(shape)}")
    if truth.size:
        if truth.dtype.kind == "f" and not np.all(np.isfinite(truth) & (truth == np.round(truth))):
            raise UserInputError(f"{source}: class ids must be whole numbers 0..{N_CLASSES - 1}")
        low, high = float(truth.min()), float(truth.max())
        if low < 0 or high > N_CLASSES - 1:
            raise UserInputError(f"{source}: class ids must be 0..{N_CLASSES - 1}, found {low:g} to {high:g}")
    return truth.astype(np.uint8)


def get_monochrome(images: np.ndarray) -> np.ndarray:
    """Return single-channel float32 images.

    (..., h, w) arrays pass through; (..., h, w, 3|4) RGB(A) images become the
    mean of their colour channels; (..., h, w, 1) loses its channel axis.
    """
    images = np.asarray(images)
    if images.ndim >= 3 and images.shape[-1] in (3, 4):
        return images[..., :3].astype(np.float32).mean(axis=-1)
    if images.ndim >= 3 and images.shape[-1] == 1:
        return images[..., 0].astype(np.float32)
    return images.astype(np.float32, copy=False)
