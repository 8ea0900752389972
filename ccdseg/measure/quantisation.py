"""Frames whose values were quantised onto a grid (tile-compressed FITS without dither), spread back for histograms.

A tile-compressed `.fz` file stores float data as integers: each tile (by
default one row) holds round(value / step) with a step of its own, a
fraction of the noise cfitsio estimates for that tile (1/4 with fpack's
default `-q 4`). With subtractive dither (fpack's default) the values come
back spread within their step; without it (astropy's default) every value
of a row lies on that row's grid. On a skipper frame the step is set by the
dark current's spread, not by the readout noise, and reaches about a noise
sigma: fine histograms of such a row show the grid's spikes, not the
electron peaks, and the gain read off them is the grid's. The calibration
therefore spreads each value of a quantised row uniformly over its step
(as the dither would have), from a fixed seed so that a frame always gets
the same figures. Values are not changed elsewhere.
"""
from __future__ import annotations

import numpy as np

# %% Defaults
DITHER_SEED = 0  # the uniform spread within each step is drawn from this seed: same frame, same calibration
SAMPLE_ROWS = 32  # rows looked at first: a frame none of whose sampled rows lies on a grid is left as it is
GRID_TOLERANCE = 0.05  # every gap between a row's values is a whole number of steps within this fraction of one
GRID_SPAN_STEPS = 64  # gaps checked: up to this many steps (the smallest gap's round-off grows with the multiple)
GRID_CHECKED_SHARE = 0.5  # and they are at least this share of a row's gaps (few are, in continuous values)
MIN_LEVELS = 3  # a row needs this many distinct values before its grid can be told


# %% Functions
def row_steps(frame: np.ndarray) -> np.ndarray:
    """The quantisation step (ADU) of each row (h,) of a frame (h, w): 0 where its values lie on no grid.

    A row lies on a grid when every gap between its sorted distinct values
    (NaN ignored) of up to `GRID_SPAN_STEPS` times the smallest (at least
    `GRID_CHECKED_SHARE` of them) is a whole multiple of it, within
    `GRID_TOLERANCE`; gaps of float32 round-off (a
    few units in the last place of the largest value) count as equal
    values. Continuous or dithered values never pass: their gaps are no
    multiples of one another.
    """
    values = np.sort(np.asarray(frame, dtype=np.float64), axis=1)
    gaps = np.diff(values, axis=1)
    finite = np.isfinite(gaps)
    largest = np.nanmax(np.abs(np.where(np.isfinite(values), values, np.nan)), axis=1, initial=0.0)
    round_off = 8.0 * np.finfo(np.float32).eps * np.maximum(largest, 1.0)
    distinct = finite & (gaps > round_off[:, None])
    step = np.where(distinct, gaps, np.inf).min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        multiples = gaps / step[:, None]
        checked = distinct & (multiples <= GRID_SPAN_STEPS)
        off = np.where(checked, np.abs(multiples - np.round(multiples)), 0.0)
    levels = distinct.sum(axis=1)
    grid = (levels >= MIN_LEVELS - 1) & (checked.sum(axis=1) >= GRID_CHECKED_SHARE * levels)
    grid &= off.max(axis=1) <= GRID_TOLERANCE
    return np.where(grid, step, 0.0)


def dequantised(frame: np.ndarray, seed: int = DITHER_SEED) -> np.ndarray:
    """The frame (h, w) with each value of a quantised row spread uniformly over its step; the frame itself otherwise.

    `SAMPLE_ROWS` rows are checked first, so a frame of continuous values
    costs a few milliseconds. The spread comes from `seed`: the same frame
    always gives the same values. NaN stays NaN.
    """
    frame = np.asarray(frame)
    if frame.ndim != 2 or frame.shape[0] == 0:
        return frame
    sample = np.unique(np.linspace(0, frame.shape[0] - 1, min(SAMPLE_ROWS, frame.shape[0])).astype(np.int64))
    if not row_steps(frame[sample]).any():
        return frame
    steps = row_steps(frame)
    spread = np.random.default_rng(seed).uniform(-0.5, 0.5, frame.shape) * steps[:, None]
    return (frame + spread).astype(frame.dtype if np.issubdtype(frame.dtype, np.floating) else np.float64)
