"""Detection efficiency against deposited charge, measured by injecting point deposits into blank frames.

This is how cluster finders are calibrated in CCD dark-matter searches:
diffusion-limited point deposits of known total charge are added to blank
frames (pedestal and readout noise only) at known positions, and the
fraction found is measured per charge, with binomial (Clopper-Pearson)
intervals. The fake rate is measured on blank frames with nothing in them.
Efficiency against charge at a stated fake rate is the figure of merit.

Coordinates: a deposit centre (row, col) is in pixel units where pixel
(i, j) has its centre at (i, j) and covers [i - 0.5, i + 0.5) x [j - 0.5, j + 0.5).
"""
from __future__ import annotations

import math
from collections.abc import Callable
import numpy as np
from scipy import ndimage
from scipy.special import erf

from ccdseg.core.classes import CLASS_NAMES, CLUSTER
from ccdseg.core.errors import UserInputError
from ccdseg.evaluate.cluster_metrics import clopper_pearson
from ccdseg.simulate.parameters import SimulationParameters

# %% Defaults
CHARGES_ADU = (150, 200, 300, 500, 800, 1500, 3000)
SIGMA_RANGE_PX = (0.2, 1.2)
PER_FRAME = 25
MIN_SEPARATION_PX = 12.0
EDGE_MARGIN_PX = 4.0
FOUND_RADIUS_PX = 2.0
STAMP_HALF_WIDTH_SIGMAS = 5.0


# %% Frames and deposits
def blank_frames(
    count: int,
    seed: int | np.random.SeedSequence,
    shape: tuple[int, int] = (256, 256),
    params: SimulationParameters | None = None,
) -> np.ndarray:
    """Frames with pedestal and Gaussian readout noise only, (count, h, w) float32 ADU."""
    params = params or SimulationParameters()
    if count < 1 or len(shape) != 2 or min(shape) < 1:
        raise UserInputError(f"need count >= 1 and a 2-D shape, got {count} and {shape}")
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, params.noise_sigma_adu, (count, *shape))
    return (params.pedestal_adu + noise).astype(np.float32)


def _pixel_fractions(offsets_px: np.ndarray, sigma_px: np.ndarray) -> np.ndarray:
    """Fraction of a 1-D Gaussian in pixels whose centres lie at `offsets_px` from its centre.

    offsets_px (k, s), sigma_px (k,) -> (k, s) float64.
    """
    scale = math.sqrt(2.0) * sigma_px[:, None]
    return 0.5 * (erf((offsets_px + 0.5) / scale) - erf((offsets_px - 0.5) / scale))


def point_deposit_stamp(charge_adu: float, sigma_px: float, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """A diffusion-limited point deposit integrated over pixels, (s, s) float64 ADU.

    The 2-D Gaussian of sigma `sigma_px` is centred (dx, dy) px (columns,
    rows) from the central pixel's centre, |dx|, |dy| <= 0.5; the stamp spans
    +-5 sigma (at least +-2 px), so it sums to `charge_adu` to better than 1e-6.
    """
    if sigma_px <= 0:
        raise UserInputError(f"diffusion sigma must be > 0 px, got {sigma_px}")
    half = max(2, math.ceil(STAMP_HALF_WIDTH_SIGMAS * sigma_px + 0.5))
    pixels = np.arange(-half, half + 1, dtype=np.float64)
    sigma = np.array([sigma_px], dtype=np.float64)
    fy = _pixel_fractions(pixels[None] - dy, sigma)[0]
    fx = _pixel_fractions(pixels[None] - dx, sigma)[0]
    return charge_adu * np.outer(fy, fx)


def _jittered_grid(
    count: int, shape: tuple[int, int], min_separation_px: float, edge_px: float, rng: np.random.Generator
) -> np.ndarray:
    """(count, 2) sub-pixel (row, col) centres, >= min_separation_px apart, >= edge_px from the edges."""
    height, width = shape[0] - 1 - 2 * edge_px, shape[1] - 1 - 2 * edge_px
    n_cols = max(1, math.ceil(math.sqrt(count * width / max(height, 1e-9))))
    n_rows = math.ceil(count / n_cols)
    cell_y, cell_x = height / n_rows, width / n_cols
    if min(height, width) <= 0 or min(cell_y if n_rows > 1 else np.inf, cell_x if n_cols > 1 else np.inf) < min_separation_px:
        raise UserInputError(
            f"{count} deposits {min_separation_px} px apart do not fit a {shape[0]}x{shape[1]} frame"
        )
    cells = rng.choice(n_rows * n_cols, size=count, replace=False)
    rows, cols = np.divmod(cells, n_cols)
    jitter_y = max(0.0, cell_y - min_separation_px) / 2 if n_rows > 1 else height / 2
    jitter_x = max(0.0, cell_x - min_separation_px) / 2 if n_cols > 1 else width / 2
    centre_y = edge_px + (rows + 0.5) * cell_y + rng.uniform(-jitter_y, jitter_y, count)
    centre_x = edge_px + (cols + 0.5) * cell_x + rng.uniform(-jitter_x, jitter_x, count)
    return np.stack([centre_y, centre_x], axis=1)


def inject(
    frames: np.ndarray,
    charge_adu: float,
    per_frame: int = PER_FRAME,
    sigma_px: tuple[float, float] = SIGMA_RANGE_PX,
    seed: int | np.random.SeedSequence = 0,
    min_separation_px: float = MIN_SEPARATION_PX,
    edge_px: float = EDGE_MARGIN_PX,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add point deposits of total charge `charge_adu` to frames.

    Parameters
    ----------
    frames : (n, h, w) float32 ADU (usually `blank_frames`).
    charge_adu : total charge of each deposit, ADU.
    per_frame : deposits per frame, on a jittered grid (no overlaps).
    sigma_px : (low, high) diffusion sigma, drawn uniformly per deposit, px.
    min_separation_px, edge_px : least distance between centres, and from
        the frame edges (centres), px.

    Returns
    -------
    frames_with_deposits : (n, h, w) float32 ADU.
    centres : (n * per_frame, 3) float64 [frame, row, col], sub-pixel.
    deposited : (n, h, w) float32 ADU, the injected charge alone.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 3:
        raise UserInputError(f"frames must be (n, h, w), got shape {frames.shape}")
    if charge_adu < 0 or per_frame < 1 or not 0 < sigma_px[0] <= sigma_px[1]:
        raise UserInputError(f"need charge >= 0, per_frame >= 1, 0 < sigma low <= high; got {charge_adu}, {per_frame}, {sigma_px}")
    n, height, width = frames.shape
    rng = np.random.default_rng(seed)
    positions = np.concatenate([_jittered_grid(per_frame, (height, width), min_separation_px, edge_px, rng) for _ in range(n)])
    frame_of = np.repeat(np.arange(n), per_frame)
    sigmas = rng.uniform(sigma_px[0], sigma_px[1], frame_of.size)
    half = max(2, math.ceil(STAMP_HALF_WIDTH_SIGMAS * sigma_px[1] + 0.5))
    window = np.arange(-half, half + 1)
    pixel_rows = np.rint(positions[:, :1]).astype(np.int64) + window  # (k, s)
    pixel_cols = np.rint(positions[:, 1:]).astype(np.int64) + window
    fy = _pixel_fractions(pixel_rows - positions[:, :1], sigmas)
    fx = _pixel_fractions(pixel_cols - positions[:, 1:], sigmas)
    fy[(pixel_rows < 0) | (pixel_rows >= height)] = 0.0  # charge beyond the edge is lost
    fx[(pixel_cols < 0) | (pixel_cols >= width)] = 0.0
    stamps = charge_adu * fy[:, :, None] * fx[:, None, :]
    deposited = np.zeros(frames.shape, dtype=np.float64)
    np.add.at(
        deposited,
        (
            frame_of[:, None, None],
            np.clip(pixel_rows, 0, height - 1)[:, :, None],
            np.clip(pixel_cols, 0, width - 1)[:, None, :],
        ),
        stamps,
    )
    centres = np.column_stack([frame_of.astype(np.float64), positions])
    deposited = deposited.astype(np.float32)
    return frames + deposited, centres, deposited


# %% Matching and counting
def _near_pixels(centres: np.ndarray, shape: tuple[int, int], radius_px: float) -> tuple[np.ndarray, ...]:
    """Indices (frame, row, col) (k, m) of pixels within radius_px of each centre, and a validity mask."""
    reach = math.ceil(radius_px) + 1
    offsets = np.arange(-reach, reach + 1)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    rows = np.rint(centres[:, 1:2]).astype(np.int64) + dy.ravel()
    cols = np.rint(centres[:, 2:3]).astype(np.int64) + dx.ravel()
    valid = np.hypot(rows - centres[:, 1:2], cols - centres[:, 2:3]) <= radius_px
    valid &= (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    frame = np.broadcast_to(centres[:, :1].astype(np.int64), rows.shape)
    return frame, np.clip(rows, 0, shape[0] - 1), np.clip(cols, 0, shape[1] - 1), valid


def found_mask(prediction_ids: np.ndarray, centres: np.ndarray, radius_px: float = FOUND_RADIUS_PX) -> np.ndarray:
    """(k,) bool: deposit found when a predicted CLUSTER pixel lies within `radius_px` of its centre.

    prediction_ids : (n, h, w) or (h, w) uint8 class ids; centres (k, 3) [frame, row, col].
    """
    prediction = np.asarray(prediction_ids)
    prediction = prediction[None] if prediction.ndim == 2 else prediction
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
    frame, rows, cols, valid = _near_pixels(centres, prediction.shape[1:], radius_px)
    return ((prediction[frame, rows, cols] == CLUSTER) & valid).any(axis=1)


def count_fakes(prediction_ids: np.ndarray) -> float:
    """Predicted cluster objects (8-connected) per frame; on blank frames every one is fake."""
    prediction = np.asarray(prediction_ids)
    prediction = prediction[None] if prediction.ndim == 2 else prediction
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True
    return ndimage.label(prediction == CLUSTER, structure=structure)[1] / prediction.shape[0]


def injection_efficiency(
    label_fn: Callable[[np.ndarray], np.ndarray],
    charges_adu: tuple[float, ...] = CHARGES_ADU,
    frames_per_charge: int = 4,
    per_frame: int = PER_FRAME,
    blank_count: int = 20,
    seed: int = 0,
    shape: tuple[int, int] = (256, 256),
    params: SimulationParameters | None = None,
    sigma_px: tuple[float, float] = SIGMA_RANGE_PX,
    radius_px: float = FOUND_RADIUS_PX,
) -> dict:
    """Efficiency per injected charge, with Clopper-Pearson 68 % intervals, and the blank-frame fake rate.

    Parameters
    ----------
    label_fn : (n, h, w) ADU -> (n, h, w) uint8 class ids.
    charges_adu : total charge of the injected deposits, one set of frames each.
    frames_per_charge, per_frame : frames and deposits per frame for each charge.
    blank_count : blank frames (their own seeds) on which fakes are counted.
    seed : master seed; every charge's frames and the blank frames get distinct streams.

    Returns
    -------
    dict of plain numbers and lists: charges_adu, injected, found,
    efficiency, efficiency_low, efficiency_high (per charge),
    fakes_per_frame, blank_frames, and missed_as (class name -> fraction of
    the missed deposits whose centre pixel was given that class).
    """
    params = params or SimulationParameters()
    streams = np.random.SeedSequence(seed).spawn(2 * len(charges_adu) + 1)
    injected, found, missed_classes = [], [], np.zeros(len(CLASS_NAMES), dtype=np.int64)
    for i, charge in enumerate(charges_adu):
        frames = blank_frames(frames_per_charge, streams[2 * i], shape, params)
        with_deposits, centres, _ = inject(frames, charge, per_frame, sigma_px, seed=streams[2 * i + 1])
        prediction = np.asarray(label_fn(with_deposits))
        hit = found_mask(prediction, centres, radius_px)
        missed = centres[~hit]
        centre_ids = prediction[missed[:, 0].astype(np.int64), np.rint(missed[:, 1]).astype(np.int64), np.rint(missed[:, 2]).astype(np.int64)]
        missed_classes += np.bincount(centre_ids, minlength=len(CLASS_NAMES))[: len(CLASS_NAMES)]
        injected.append(int(hit.size))
        found.append(int(hit.sum()))
    low, high = clopper_pearson(np.array(found), np.array(injected))
    fakes = count_fakes(label_fn(blank_frames(blank_count, streams[-1], shape, params)))
    total_missed = max(int(missed_classes.sum()), 1)
    return {
        "charges_adu": [float(q) for q in charges_adu],
        "injected": injected,
        "found": found,
        "efficiency": [f / n for f, n in zip(found, injected)],
        "efficiency_low": [float(v) for v in low],
        "efficiency_high": [float(v) for v in high],
        "fakes_per_frame": float(fakes),
        "blank_frames": int(blank_count),
        "missed_as": {name: float(c / total_missed) for name, c in zip(CLASS_NAMES, missed_classes)},
        "sigma_px": [float(s) for s in sigma_px],
        "radius_px": float(radius_px),
    }
