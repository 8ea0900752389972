"""A skipper frame's defects as the experiments list them, measured on the frame itself: glow, hot columns, streaks.

The frame's own calibration (`frame_fit.fit_frame`) measures what is not
dark current: the first column's excess, amplifier glow near the readout
corner, hot columns (from their defect's row to the top) and one-row
serial-register streaks. `defect_labels` turns them into class ids:
glowing for the first column and where the fitted glow reaches one
electron per pixel (the simulation's own truth rule), hot pixel for hot
columns and streaks. The experiments mask such pixels from lists; here the
list comes from the frame.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ccdseg.core.classes import BACKGROUND, GLOWING, HOT_PIXEL
from ccdseg.measure.frame_fit import FrameFit

# %% Defaults
GLOW_MIN_ELECTRONS = 1.0  # amplifier glow is glowing where its mean excess reaches this
STREAK_EDGE_PX = 8  # running mean that finds where a streak really starts and ends
DEPOSIT_ELECTRONS = 8.0  # a pixel beside a streak's row holding this many electrons is a deposit's, not the streak's


# %% Functions
def glow_map(fit: FrameFit) -> np.ndarray:
    """The fitted amplifier glow (h, w) float32, electrons per pixel: A exp(-(row + column) / L)."""
    height, width = fit.shape_px
    amplitude, length = fit.amplifier_glow
    if not (amplitude > 0 and length > 0):
        return np.zeros((height, width), dtype=np.float32)
    return (amplitude * np.exp(-np.add.outer(np.arange(height), np.arange(width)) / length)).astype(np.float32)


def dark_current_rows(fit: FrameFit) -> np.ndarray:
    """(h,) mean dark current of each row, electrons: the fitted bands, straight between their centres."""
    bands = np.asarray(fit.dark_current_row_bands, dtype=np.float64).reshape(-1, 3)
    rows = np.arange(fit.shape_px[0]) + 0.5
    if len(bands) < 2:
        return np.full(fit.shape_px[0], float(bands[0, 2]) if len(bands) else 0.0)
    centres = 0.5 * (bands[:, 0] + bands[:, 1])
    lam = np.interp(rows, centres, bands[:, 2])
    for end, (a, b) in ((rows < centres[0], (0, 1)), (rows > centres[-1], (-2, -1))):
        slope = (bands[b, 2] - bands[a, 2]) / (centres[b] - centres[a])
        lam[end] = bands[b, 2] + slope * (rows[end] - centres[b])
    return np.clip(lam, 0.0, None)


def trimmed_streaks(streaks: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """Streak runs (h, w) bool cut to where their charge is: the found windows reach past a streak's ends.

    excess : (h, w) electrons above the row's dark current. A streak is one
    row: a pixel whose row above or below holds `DEPOSIT_ELECTRONS` within a
    column of it belongs to a deposit (an X-ray beside a streak's end) and
    counts as no charge of the streak. Each run of a row is then trimmed
    from both ends while the running mean of `STREAK_EDGE_PX` pixels is
    below half the run's mean, and while its end pixel is a deposit's.
    """
    out = np.zeros_like(streaks)
    labels, count = ndimage.label(streaks, structure=np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]]))
    for run in ndimage.find_objects(labels):
        row, cols = run[0].start, np.arange(run[1].start, run[1].stop)
        around = np.nan_to_num(excess[[r for r in (row - 1, row + 1) if 0 <= r < excess.shape[0]]][:, cols])
        deposit = ndimage.maximum_filter1d(around.max(axis=0, initial=-np.inf), 3) >= DEPOSIT_ELECTRONS
        values = np.where(deposit, 0.0, np.clip(np.nan_to_num(excess[row, cols]), -1.0, 20.0))
        smooth = ndimage.uniform_filter1d(values, min(STREAK_EDGE_PX, values.size), mode="nearest")
        keep = np.flatnonzero((smooth >= 0.5 * max(values[~deposit].mean() if (~deposit).any() else 0.0, 0.0))
                              & ~deposit)
        if keep.size:
            out[row, cols[keep[0]] : cols[keep[-1]] + 1] = True
    return out


def defect_labels(fit: FrameFit, image: np.ndarray) -> np.ndarray:
    """Class ids (h, w) uint8 of a skipper frame's defects (`BACKGROUND` elsewhere), from its fit and its ADU `image`."""
    height, width = fit.shape_px
    labels = np.full((height, width), BACKGROUND, dtype=np.uint8)
    labels[glow_map(fit) >= GLOW_MIN_ELECTRONS] = GLOWING
    labels[:, 0] = GLOWING
    for (column, _), first_row in zip(fit.hot_columns, fit.hot_column_rows or (0,) * len(fit.hot_columns)):
        labels[first_row:, column] = HOT_PIXEL
    if fit.streaks is not None and fit.streaks.any():
        excess = (image - fit.pedestal_adu_per_row[:, None]) / fit.fit.gain_adu - dark_current_rows(fit)[:, None]
        labels[trimmed_streaks(fit.streaks, excess)] = HOT_PIXEL
    return labels
