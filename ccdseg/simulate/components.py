"""The components of a simulated frame, each with its own charge (ADU) and truth mask.

Glowing columns, hot-pixel segments, clusters pasted from the stamp library,
charge-transfer losses, dark current and binning: `frame.simulate_frame`
adds them up. Every random number comes from the generator passed in.
"""
from __future__ import annotations

import numpy as np

from ccdseg.simulate.parameters import REFERENCE_AREA_PX, SimulationParameters


# %% Frame components
def _band(layout: str, kind: str, width: int) -> tuple[int, int]:
    """Columns [start, stop) where objects of `kind` go: the whole frame for 'mixed'."""
    if layout == "mixed":
        return 0, width
    start, stop = {"hot": (66, 144), "cluster": (144, 256)}[kind]
    return int(start * width / 256), int(stop * width / 256)


def _count(rng: np.random.Generator, bounds: tuple[int, int], area_px: int) -> int:
    scale = area_px / REFERENCE_AREA_PX
    return int(rng.integers(bounds[0], bounds[1] + 1) * scale + rng.uniform())


def glowing_columns(
    shape: tuple[int, int], params: SimulationParameters, layout: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Amplifier glow: a block of columns at a frame edge. Returns (adu, present) (h, w)."""
    height, width = shape
    adu = np.zeros(shape, dtype=np.float32)
    present = np.zeros(shape, dtype=bool)
    if rng.uniform() >= params.glowing_probability:
        return adu, present
    block = int(rng.integers(params.glowing_width_px[0], params.glowing_width_px[1] + 1))
    offset = int(rng.integers(params.glowing_offset_px[0], params.glowing_offset_px[1] + 1))
    start = offset
    if layout == "mixed" and rng.uniform() < 0.5:
        start = width - offset - block
    start, stop = max(start, 0), min(start + block, width)
    present[:, start:stop] = True
    adu[:, start:stop] = rng.uniform(*params.glowing_adu)
    return adu, present


def hot_pixel_segments(
    shape: tuple[int, int], params: SimulationParameters, layout: str, rng: np.random.Generator
) -> np.ndarray:
    """Hot pixels: horizontal or vertical segments. Returns (h, w) bool."""
    height, width = shape
    hot = np.zeros(shape, dtype=bool)
    x_lo, x_hi = _band(layout, "hot", width)
    for _ in range(_count(rng, params.hot_segments, height * width)):
        length = int(rng.integers(params.hot_length_px[0], params.hot_length_px[1] + 1))
        if rng.uniform() < 0.5:
            col = int(rng.integers(x_lo, x_hi))
            row = int(rng.integers(-length // 2, height))
            hot[max(row, 0) : max(row + length, 0), col] = True
        else:
            row = int(rng.integers(0, height))
            col = int(rng.integers(x_lo - length // 2, x_hi))
            hot[row, max(col, x_lo) : min(max(col + length, 0), x_hi)] = True
    return hot


def paste_clusters(
    shape: tuple[int, int],
    params: SimulationParameters,
    layout: str,
    rng: np.random.Generator,
    library: list[np.ndarray],
) -> np.ndarray:
    """Deposited cluster charge (h, w) float32 ADU: library stamps, randomly turned, anywhere."""
    height, width = shape
    charge = np.zeros(shape, dtype=np.float32)
    x_lo, x_hi = _band(layout, "cluster", width)
    for _ in range(_count(rng, params.clusters, height * width)):
        stamp = np.rot90(library[int(rng.integers(len(library)))], int(rng.integers(4)))
        if rng.uniform() < 0.5:
            stamp = stamp[:, ::-1]
        sh, sw = stamp.shape
        top = int(rng.integers(-(sh // 2), height - sh // 2))
        if layout == "mixed":
            left = int(rng.integers(-(sw // 2), width - sw // 2))
        else:
            left = int(rng.integers(x_lo, max(x_hi - sw, x_lo + 1)))
        y0, y1 = max(top, 0), min(top + sh, height)
        x0, x1 = max(left, 0), min(left + sw, width, x_hi)
        if y1 > y0 and x1 > x0:
            charge[y0:y1, x0:x1] += stamp[y0 - top : y1 - top, x0 - left : x1 - left]
    return charge * np.float32(params.adu_per_charge_unit)


def charge_transfer_losses(charge_adu: np.ndarray, params: SimulationParameters, rng: np.random.Generator) -> np.ndarray:
    """Binomial charge-transfer losses: each electron survives each transfer with 1 - cti.

    A pixel at (row, col) is moved row + col + 2 times to the amplifier at (0, 0).
    """
    if params.cti <= 0:
        return charge_adu
    height, width = charge_adu.shape
    transfers = np.add.outer(np.arange(height), np.arange(width)) + 2
    survive = (1.0 - params.cti) ** transfers
    electrons = np.rint(charge_adu / params.gain_adu_per_electron).astype(np.int64)
    kept = rng.binomial(electrons, survive)
    return (kept * params.gain_adu_per_electron).astype(np.float32)


def dark_current(shape: tuple[int, int], params: SimulationParameters, rng: np.random.Generator) -> np.ndarray:
    """Poisson dark current over exposure plus readout, (h, w) float32 ADU."""
    rate = params.dark_current_e_per_pixel_day * (params.exposure_s + params.readout_time_s) / 86400.0
    if rate <= 0:
        return np.zeros(shape, dtype=np.float32)
    return (rng.poisson(rate, shape) * params.gain_adu_per_electron).astype(np.float32)


def reduce_image(image: np.ndarray, factor: int, how: str = "sum") -> np.ndarray:
    """Bin (h, w) into (h // factor, w // factor) blocks: 'sum' charge, or 'max' (class ids)."""
    if factor == 1:
        return image
    height, width = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:height, :width].reshape(height // factor, factor, width // factor, factor)
    return blocks.sum(axis=(1, 3)) if how == "sum" else blocks.max(axis=(1, 3))
