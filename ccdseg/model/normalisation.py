"""The network's input: each whole frame standardised by its pedestal and noise, stretched, with its matched filter (numpy only).

Frames are normalised once per whole frame, before any tiling: the pedestal
is subtracted and the result divided by the readout noise (both estimated
from the frame by `measure.background.robust_background`), so a model does not depend on a
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

import numpy as np

from ccdseg.core.errors import UserInputError
from ccdseg.measure.background import robust_background
from ccdseg.measure.matched_filter import SIGMAS_PX, matched_filter

# %% Defaults (a model's card records the normalisation it was trained with)
ASINH_SCALE = 50.0
INPUT_GAIN = 0.1
NORMALISATION = {"method": "robust-asinh", "asinh_scale": ASINH_SCALE, "gain": INPUT_GAIN}
MATCHED_NORMALISATION = {**NORMALISATION, "matched_sigmas_px": list(SIGMAS_PX)}
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
