"""The network's input: each whole frame standardised by its pedestal and noise, stretched, with its matched filter (numpy only).

Frames are normalised once per whole frame, before any tiling: the
background is subtracted and the result divided by its spread, so a model
does not depend on a detector's pedestal or gain. Two ways, recorded in a
model's card: `robust-asinh` (one pedestal and readout noise per frame,
`measure.background.robust_background`: the models of 2026-11) and
`row-asinh` (the level and spread of every row, `frame_background`: the
pedestal drifts and the dark current rises with the row on skipper CCDs,
whose single electrons are resolved; there the spread holds the dark
current's Poisson spread too, so that a lone dark-current electron is
unremarkable however sharp the readout). An asinh stretch, linear up to ~50 sigma, then
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

import warnings
from collections.abc import Callable

import numpy as np

from ccdseg.core.errors import UserInputError
from ccdseg.measure.background import frame_background, robust_background
from ccdseg.measure.matched_filter import SIGMAS_PX, matched_filter

# %% Defaults (a model's card records the normalisation it was trained with)
ASINH_SCALE = 50.0
INPUT_GAIN = 0.1
NORMALISATION = {"method": "robust-asinh", "asinh_scale": ASINH_SCALE, "gain": INPUT_GAIN}
MATCHED_NORMALISATION = {**NORMALISATION, "matched_sigmas_px": list(SIGMAS_PX)}
# the background of every row, in either regime (CCD or skipper frames): what models are trained with now
ROW_NORMALISATION = {**NORMALISATION, "method": "row-asinh"}
MATCHED_ROW_NORMALISATION = {**MATCHED_NORMALISATION, "method": "row-asinh"}
# the original's input: the frame in ADU as it is (no pedestal, noise or stretch); for the ablation of train.py --raw-adu
ADU_NORMALISATION = {"method": "adu"}


# %% Functions
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


def unstretch(values: np.ndarray, normalisation: dict | None = None) -> np.ndarray:
    """The inverse of `stretch`: network input values back to noise sigmas, float32 (a copy)."""
    normalisation = normalisation or NORMALISATION
    scale = float(normalisation.get("asinh_scale", ASINH_SCALE))
    gain = float(normalisation.get("gain", 1.0))
    return (np.float32(scale) * np.sinh(np.asarray(values, dtype=np.float32) / np.float32(gain * scale))).astype(np.float32)


def _standardised(images: np.ndarray, normalisation: dict, warn: Callable[[int, str], None] | None,
                  backgrounds: list | None = None) -> np.ndarray:
    """(images - background) / spread per frame, float32 (n, h, w): the whole frame's or each row's (`row-asinh`).

    With `row-asinh`, each frame's `Background` is appended to `backgrounds` when given.
    """
    if normalisation.get("method") == "robust-asinh":
        pedestal, sigma = robust_background(images)
        z = images - pedestal
        z /= np.where(sigma > 0, sigma, 1.0).astype(np.float32)
        return z
    z = np.empty(images.shape, dtype=np.float32)
    for index, (frame, out) in enumerate(zip(images.reshape(-1, *images.shape[-2:]), z.reshape(-1, *images.shape[-2:]))):
        background = frame_background(frame)
        if backgrounds is not None:
            backgrounds.append(background)
        if not background.trusted:
            (warn or _warn)(index, background.note)
        np.subtract(frame, background.level_adu[:, None].astype(np.float32), out=out)
        out /= background.spread_adu[:, None].astype(np.float32)
    return z


def _warn(index: int, note: str) -> None:
    warnings.warn(f"frame {index}: {note}; its normalisation is not to be trusted", UntrustedBackground, stacklevel=4)


class UntrustedBackground(UserWarning):
    """A frame whose background (pedestal, noise) could not be found: its classes are not to be trusted."""


def normalise_frames(images: np.ndarray, normalisation: dict | None = None,
                     warn: Callable[[int, str], None] | None = None, backgrounds: list | None = None) -> np.ndarray:
    """Standardisation of each frame by its background, then an asinh stretch; the network's input.

    images : (h, w) or (n, h, w) ADU, NaN allowed (ignored by the statistics,
        set to 0 in the output).
    normalisation : a model card's normalisation (default `NORMALISATION`):
        'robust-asinh' takes one pedestal and noise per frame
        (`measure.background.robust_background`), 'row-asinh' the background
        level and spread of every row, in either regime (CCD or skipper,
        `measure.background.frame_background`); `ADU_NORMALISATION` passes
        the frames through in ADU (NaN set to 0), as the original fed its network.
    warn : called as warn(frame index, note) for a frame whose background
        cannot be found (default: an `UntrustedBackground` warning).
    backgrounds : a list that receives each frame's `measure.background.Background`
        (`row-asinh` only), for the decision rules that need the frame's calibration.

    Returns float32 (..., h, w, channels): channel 0 the stretched frame,
    channel 1 (with `matched_sigmas_px`) its stretched matched-filter
    significance (`matched_filter`).
    """
    normalisation = normalisation or NORMALISATION
    if normalisation.get("method") == "adu":
        out = np.asarray(images, dtype=np.float32)[..., None].copy()
        return out if np.isfinite(out).all() else np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    if normalisation.get("method") not in ("robust-asinh", "row-asinh"):
        raise UserInputError(f"unknown normalisation {normalisation.get('method')!r}")
    images = np.asarray(images, dtype=np.float32)
    z = _standardised(images, normalisation, warn, backgrounds)
    if not np.isfinite(z).all():
        np.nan_to_num(z, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    out = np.empty(images.shape + (input_channels(normalisation),), dtype=np.float32)
    out[..., 0] = z
    if out.shape[-1] == 2:
        matched_filter(z, normalisation["matched_sigmas_px"], out=out[..., 1])
    return stretch(out, normalisation, out=out)
