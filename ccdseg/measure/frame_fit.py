"""The whole measurement of one skipper-CCD amplifier frame: masks, the comb fit per band of rows, columns, glow.

`fit_frame` masks what is not dark current (clusters and their halos,
one-row streaks, column 0, hot columns, amplifier glow), fits the comb of
electron peaks (`calibration.fit_poisson_gauss`) in bands of rows sharing
gain, noise and offset, and measures the first column's excess, the hot
columns and the glow near the readout corner.

Speed: a 6144 x 1536 frame fits in 1.2 to 1.6 s on a 2-core machine, with about 330 MB of working memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, stats

from ccdseg.core.errors import UserInputError
from ccdseg.measure.calibration import (
    PoissonGaussFit,
    check_frame,
    fill_rows,
    fit_poisson_gauss,
    grow_mask,
    kmax_for,
    measure_pedestals,
)
from ccdseg.measure.quantisation import dequantised

# %% Defaults
STREAK_WINDOW_PX = 32            # running window along a row that finds horizontal streaks
STREAK_NEIGHBOUR_ROWS = 9        # a streak window's baseline: the mean of the same window in the 8 rows around
FALSE_ALARM = 1e-7               # chance that a window of dark current alone is taken for a streak
HOT_COLUMN_SIGMA = 6.0           # significance of a hot column above its neighbours
HOT_COLUMN_MIN_ELECTRONS = 0.1   # and its smallest excess, electrons per pixel
GLOW_WINDOW_PX = 25              # squares whose mean charge finds broad glow (amplifier glow)
GLOW_SIGMA = 4.0                 # significance of a square's excess over its row's typical square
GLOW_BLOCK_PX = 5                # glow is measured on blocks of this many pixels a side
GLOW_REACH_PX = 400              # farthest distance (row + column) from the readout corner where glow is measured
DEFECT_ROW_SIGMA = 6.0           # a hot column starts at a row only when its charge steps up there by this many standard errors
DEPOSIT_GAP_ROWS = 10            # masked rows at a hot column's step this few are a compact deposit's (below the step)
DEFECT_ROW_MIN_PX = 8            # usable pixels on each side of that row, at least


# %% Results
@dataclass(frozen=True)
class FrameFit:
    """The calibration of one amplifier frame (see `fit_frame`); `to_dict` for JSON."""
    shape_px: tuple[int, int]
    pedestal_adu_per_row: np.ndarray
    dark_current_row_bands: list[tuple[int, int, float]]
    first_column_excess_electrons: float
    hot_columns: list[tuple[int, float]]
    fit: PoissonGaussFit
    amplifier_glow: tuple[float, float] = (0.0, 0.0)  # electrons per pixel at the readout corner, e-folding length px
    streaks: np.ndarray | None = field(default=None, repr=False)  # (h, w) bool, one-row serial-register streaks
    hot_column_rows: tuple[int, ...] = ()  # first row of each hot column (its defect), in the order of hot_columns

    def to_dict(self) -> dict:
        """JSON-ready values, units in the keys."""
        pedestal, gain, bands = self.pedestal_adu_per_row, self.fit.gain_adu, self.dark_current_row_bands
        lambdas, heights = [lam for *_, lam in bands], [stop - first for first, stop, _ in bands]
        return {
            "shape_px": [int(n) for n in self.shape_px],
            "gain_adu_per_electron": float(gain),
            "noise_electrons": float(self.fit.noise_adu / gain),
            "pedestal_adu": float(pedestal.mean()),
            "pedestal_adu_per_row": [float(p) for p in pedestal],
            "pedestal_drift_adu": float(np.polyfit(np.arange(pedestal.size), pedestal, 1)[0] * (pedestal.size - 1)),
            "dark_current_electrons_per_pixel": float(np.average(lambdas, weights=heights)),
            "dark_current_row_bands": [[int(a), int(b), float(lam)] for a, b, lam in bands],
            "first_column_excess_electrons": float(self.first_column_excess_electrons),
            "hot_columns": [[int(c), float(x)] for c, x in self.hot_columns],
            "amplifier_glow_electrons": float(self.amplifier_glow[0]),
            "amplifier_glow_length_px": float(self.amplifier_glow[1]),
            "fitted_pixels": int(self.fit.fitted_pixels),
            "converged": bool(self.fit.converged),
        }



# %% Masks
def _columns(electrons: np.ndarray, usable: np.ndarray, variance_e: float) -> tuple[np.ndarray, list]:
    """Mean charge (w,) electrons per pixel of each column over usable pixels, and the hot columns.

    Hot: columns other than 0 significantly above their 20 neighbours' median, as [(column, excess)].
    The significance takes each column's own spread when it exceeds the dark
    current's (`variance_e`): near amplifier glow the charge changes along
    the column, which no hot column's constant excess does.
    """
    counts = usable.sum(axis=0)
    values = np.where(usable, electrons, 0.0)
    mean_e = values.sum(axis=0) / np.maximum(counts, 1)
    spread = np.maximum((values**2).sum(axis=0) / np.maximum(counts, 1) - mean_e**2, variance_e)
    means = mean_e[1:]
    excess = means - ndimage.median_filter(means, size=min(21, means.size - 1 + means.size % 2), mode="nearest")
    significance = excess * np.sqrt(counts[1:] / np.maximum(spread[1:], 1e-6))
    hot = (significance > HOT_COLUMN_SIGMA) & (excess > HOT_COLUMN_MIN_ELECTRONS) & (counts[1:] >= 8)
    return mean_e, [(int(c) + 1, float(excess[c])) for c in np.flatnonzero(hot)]


def _frame_masks(electrons: np.ndarray, kmax: int, lambda_e: float, noise_e: float) -> tuple[np.ndarray, ...]:
    """Pixels (h, w) bool for the comb fit, for column statistics, for the glow fit (only the brightest cluster
    pixels, streaks, column 0 and hot columns removed: the glow near the corner is itself bright), the glow
    and the streaks.

    In this order, each test on what the earlier ones left: hot columns,
    glow (broad excess near the readout corner), streaks: runs
    of STREAK_WINDOW_PX along a row holding far more charge than the same
    columns of the 8 rows around (a local baseline, which glow and
    rising dark current share with the row).
    """
    finite = np.isfinite(electrons)
    with np.errstate(invalid="ignore"):
        column_usable = finite & ~grow_mask(electrons > kmax + 12.5)
        usable = finite & ~grow_mask((electrons > kmax + 0.5) | (electrons < -8.0 * noise_e - 1.0))
    usable[:, 0] = False
    usable[:, [c for c, _ in _columns(electrons, column_usable, lambda_e + noise_e**2)[1]]] = False
    glow = _glow(electrons, usable, lambda_e, noise_e)
    row_counts = (usable & ~glow).sum(axis=1)
    row_means = np.where(usable & ~glow, electrons, 0.0).sum(axis=1) / np.maximum(row_counts, 1)
    lambda_rows = np.maximum(fill_rows(row_means, row_counts > 0, 15), 0.0)
    window = min(STREAK_WINDOW_PX, electrons.shape[1])
    sums = ndimage.uniform_filter1d(np.where(usable, electrons, lambda_rows[:, None]), window, axis=1) * window
    rows = STREAK_NEIGHBOUR_ROWS
    around = ndimage.uniform_filter1d(sums, rows, axis=0, mode="nearest")  # the first rows: the glow's gradient
    last = min(rows, len(sums))  # the last rows read: mirrored, so a streak there is not its own neighbour
    around[-last:] = ndimage.uniform_filter1d(sums[-2 * last:], rows, axis=0, mode="mirror")[-last:]
    around *= rows
    around -= sums
    around /= rows - 1
    np.maximum(around, window * 1e-3, out=around)  # in place: a whole CCD's arrays are 75 MB each
    steps = np.rint(np.multiply(around, 10.0, out=around), out=around).astype(np.intp)  # Poisson tail, 0.1-e steps
    table = stats.poisson.isf(FALSE_ALARM, np.maximum(np.arange(int(steps.max()) + 1) / 10.0, window * 1e-3))
    limit = np.take(table, steps)
    limit += 5.5 * noise_e * np.sqrt(window)
    streaks = ndimage.maximum_filter1d(sums > limit, window, axis=1)
    clean = column_usable & ~streaks
    clean[:, 0] = False
    clean[:, ~usable.any(axis=0)] = False
    return usable & ~streaks & ~glow, column_usable & ~streaks & ~glow, clean, glow, streaks


def _glow(electrons: np.ndarray, usable: np.ndarray, lambda_e: float, noise_e: float) -> np.ndarray:
    """Broad regions of excess charge (amplifier glow near the readout corner), (h, w) bool.

    The mean charge of every GLOW_WINDOW_PX square of usable pixels (on
    blocks of GLOW_BLOCK_PX, so a whole CCD costs little) is compared with its
    row's median square; squares GLOW_SIGMA standard errors (and 0.02
    electron) above it are glow, grown by a square.
    """
    block = GLOW_BLOCK_PX if min(electrons.shape) >= 4 * GLOW_WINDOW_PX else 1
    height, width = (s // block * block for s in electrons.shape)
    shape = (height // block, block, width // block, block)
    counts = usable[:height, :width].reshape(shape).sum(axis=(1, 3)).astype(np.float64)
    sums = np.where(usable, electrons, 0.0)[:height, :width].reshape(shape).sum(axis=(1, 3))
    window = max(1, min(GLOW_WINDOW_PX // block, *counts.shape))
    weight = ndimage.uniform_filter(counts, window, mode="nearest")
    local = ndimage.uniform_filter(sums, window, mode="nearest") / np.maximum(weight, 1e-9)
    counted = weight > 0.3 * block * block
    with np.errstate(invalid="ignore"):
        baseline = np.nanmedian(np.where(counted, local, np.nan), axis=1, keepdims=True) if counted.any() else local
    error = np.sqrt((lambda_e + noise_e**2) / np.maximum(weight * window**2, 1.0))
    glow = (local - np.nan_to_num(baseline, nan=np.inf) > np.maximum(GLOW_SIGMA * error, 0.02)) & counted
    if glow.any():
        glow = ndimage.binary_dilation(glow, iterations=window)
    full = np.zeros(electrons.shape, dtype=bool)
    full[:height, :width] = np.repeat(np.repeat(glow, block, axis=0), block, axis=1)
    return full


def fit_frame(image: np.ndarray, gain_adu_per_electron: float | None = None, row_bands: int = 8) -> FrameFit:
    """Measure pedestal per row, gain, noise and dark current of one amplifier frame (h, w) ADU.

    Pedestal not subtracted, NaN ignored; gain_adu_per_electron, when given, is held (unresolved frames).
    Masks bright pixels (> kmax + 0.5 electrons, dilated 2 px), one-row streaks, column 0 and hot
    columns, then fits the comb in `row_bands` bands of rows (fewer on small frames) sharing gain, noise
    and offset. First-column excess: column 0's mean charge minus its rows' lambda, electrons per pixel.
    Hot columns: others over 6 sigma and 0.1 electron above the median of their 20 neighbours.
    Values quantised onto a grid are spread over their step first (`quantisation.dequantised`).
    UserInputError for frames not 2-D, under 16 px a side or all NaN, without a resolved 1-electron
    peak (and no gain given), or whose fit does not converge.
    """
    frame = dequantised(check_frame(image))
    pedestal, start = measure_pedestals(frame, gain_adu_per_electron, None, require_gain=True)
    gain, noise, lam = start["gain_adu"], start["noise_adu"], max(start["lambda_electrons"], 1e-3)
    residual = frame - pedestal[:, None]
    usable, column_usable, clean, glow, streaks = _frame_masks(residual / gain, kmax_for(lam), lam, noise / gain)
    bands = np.array_split(np.arange(frame.shape[0]), max(1, min(row_bands, usable.sum() // 2000, frame.shape[0])))
    fit = fit_poisson_gauss([residual[rows][usable[rows]] for rows in bands], gain_adu=gain, noise_adu=noise,
                            offset_adu=0.0, lambda_electrons=lam, kmax=kmax_for(lam),
                            fixed=("gain_adu",) if gain_adu_per_electron else ())
    if not fit.converged:
        raise UserInputError(f"the Poisson-Gauss fit did not converge: {fit.message}")
    lambda_rows = np.concatenate([np.full(r.size, band_lam) for r, band_lam in zip(bands, fit.group_lambdas_electrons)])
    electrons = (residual - fit.offset_adu) / fit.gain_adu - lambda_rows[:, None]
    variance_e = fit.lambda_electrons + (fit.noise_adu / fit.gain_adu) ** 2  # a background pixel's, electrons squared
    mean_e, hot = _columns(electrons, column_usable, variance_e)
    band_rows = [(int(r[0]), int(r[-1]) + 1, band_lam) for r, band_lam in zip(bands, fit.group_lambdas_electrons)]
    corner = _corner_glow(electrons, clean, glow, variance_e)
    first_rows = _defect_rows(electrons, column_usable, [column for column, _ in hot], variance_e)
    return FrameFit(frame.shape, pedestal + fit.offset_adu, band_rows, float(mean_e[0]), hot, fit, corner, streaks,
                    first_rows)


def _defect_rows(excess: np.ndarray, usable: np.ndarray, columns: list[int], variance_e: float) -> tuple[int, ...]:
    """The first row of each hot column: where its excess charge starts (a defect leaks into the rows read after it).

    The change point of each column's excess (usable pixels, electrons above
    the row's dark current): the row splitting it into a lower and an upper
    part whose means differ most, in standard errors of the difference. Each
    part has its own spread (the hot column's Poisson excess adds spread only
    above its defect), never below `variance_e`, the dark current's and the
    noise's, and holds at least `DEFECT_ROW_MIN_PX` pixels. A split of at
    least `DEFECT_ROW_SIGMA` is the defect's row; otherwise the column is hot
    from row 0. Rows a deposit masks tie with the first usable row after
    them; up to `DEPOSIT_GAP_ROWS` of them (an X-ray, grown) go below the
    step, for a compact bright deposit is a cluster, never a hot pixel.
    """
    if not columns:
        return ()
    values = np.where(usable[:, columns], excess[:, columns], 0.0)
    counts = usable[:, columns].astype(np.float64)
    total, squares, n = values.sum(axis=0), (values**2).sum(axis=0), counts.sum(axis=0)
    below, n_below = np.cumsum(values, axis=0) - values, np.cumsum(counts, axis=0) - counts
    squares_below = np.cumsum(values**2, axis=0) - values**2
    above, n_above = total - below, n - n_below
    with np.errstate(invalid="ignore", divide="ignore"):
        spread_below = np.maximum((squares_below - below**2 / n_below) / (n_below - 1), variance_e)
        spread_above = np.maximum((squares - squares_below - above**2 / n_above) / (n_above - 1), variance_e)
        gap = above / n_above - below / n_below
        statistic = gap / np.sqrt(spread_below / n_below + spread_above / n_above)
    enough = (n_below >= DEFECT_ROW_MIN_PX) & (n_above >= DEFECT_ROW_MIN_PX)
    statistic = np.where(enough, np.nan_to_num(statistic), 0.0)
    split = np.argmax(statistic, axis=0)
    best = statistic[split, np.arange(len(columns))]
    for k, row in enumerate(split):  # rows a deposit masks tie with the first row after them: a short run goes below
        tied = np.flatnonzero(statistic[row:, k] != best[k])
        run = int(tied[0]) if tied.size else statistic.shape[0] - row
        split[k] += run - 1 if run - 1 <= DEPOSIT_GAP_ROWS else 0
    found = best >= DEFECT_ROW_SIGMA
    return tuple(int(row) if step else 0 for row, step in zip(split, found))


def _corner_glow(excess: np.ndarray, usable: np.ndarray, glow: np.ndarray, variance_e: float) -> tuple[float, float]:
    """Amplifier glow as A exp(-(row + column) / L): (A electrons per pixel, L px), (0, 0) when no glow was found.

    excess : (h, w) electrons above each row's dark current; the mean
    excess of usable pixels (clusters and streaks left out) at each distance
    row + column from the readout corner is fitted in log where it stands
    3 standard errors above zero, over the run of such distances that starts
    at the corner and ends where two measured distances in a row fall short
    (`_corner_run`): glow falls from the corner, so excess farther out (a
    deposit's halo, a dark current the row bands miss) is not glow.
    """
    if not glow.any():
        return 0.0, 0.0
    height, width = excess.shape
    reach = min(height + width - 1, GLOW_REACH_PX)
    distance = np.add.outer(np.arange(height), np.arange(width))
    keep = usable & (distance < reach) & np.isfinite(excess)
    sums = np.bincount(distance[keep], weights=excess[keep], minlength=reach)
    counts = np.bincount(distance[keep], minlength=reach)
    mean = sums / np.maximum(counts, 1)
    error = np.sqrt(variance_e / np.maximum(counts, 1))
    good = _corner_run(counts > 0, mean > 3.0 * error)
    if good.sum() < 3:
        return 0.0, 0.0
    slope, intercept = np.polyfit(np.flatnonzero(good), np.log(mean[good]), 1, w=mean[good] / error[good])
    if slope >= 0:
        return 0.0, 0.0
    return float(np.exp(intercept)), float(-1.0 / slope)


def _corner_run(measured: np.ndarray, significant: np.ndarray) -> np.ndarray:
    """(n,) bool: the significant distances before the first two measured, not significant ones in a row.

    measured, significant : (n,) bool per distance from the readout corner.
    """
    order = np.flatnonzero(measured)
    short = ~significant[order]
    ends = np.flatnonzero(short[:-1] & short[1:])
    stop = order[ends[0]] if ends.size else measured.size
    return measured & significant & (np.arange(measured.size) < stop)
