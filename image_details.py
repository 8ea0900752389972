"""One simulated CCD frame, built from separate physical components.

A frame is pedestal + readout noise + dark current + glowing columns + hot
pixels + clusters, converted to ADU. Each component is kept apart while the
frame is built, so the exact truth class of every pixel is known:

* cluster: deposited cluster charge >= `cluster_threshold_sigma` x readout noise,
* priority where objects overlap: hot pixel > cluster > glowing > background.

Clusters are pasted from a library of charge stamps (`Cluster.pkl`), made by
`make_cluster_library` from physics: diffusion-limited point deposits, straight
muon tracks whose diffusion grows with depth, and multiple-scattering electron
"worms". Charge is in stamp units; one unit is `adu_per_charge_unit` ADU.

Run this file to rewrite `Cluster.pkl` from a seed:
    python image_details.py --seed 0 --force
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from cluster_library import (
    LIBRARY_PATH,
    LIBRARY_SEED,
    LIBRARY_SIZE,
    library_statistics,
    load_cluster_library,
    make_cluster_library,
    save_cluster_library,
)
from errors import UserInputError, run_command

# %% Settings - edit here when running top to bottom in Spyder
LAYOUTS = ("mixed", "banded")
REFERENCE_AREA_PX = 256 * 256


# %% Physics parameters
@dataclass(frozen=True)
class SimulationParameters:
    """Physics of one simulated frame; defaults are the original project's values.

    Ranges are (low, high) and drawn per frame; object counts are per
    256 x 256 pixels and scale with the frame's area.
    """

    pedestal_adu: float = 8800.0
    readout_noise_adu: float = 60.0
    n_samples: int = 10
    gain_adu_per_electron: float = 10.0
    dark_current_e_per_pixel_day: float = 0.0
    exposure_s: float = 0.0
    readout_time_s: float = 0.0
    adu_per_charge_unit: float = 200.0
    glowing_probability: float = 0.6
    glowing_adu: tuple[float, float] = (1400.0, 1500.0)
    glowing_width_px: tuple[int, int] = (40, 61)
    glowing_offset_px: tuple[int, int] = (0, 4)
    hot_pixel_adu: float = 2200.0
    hot_segments: tuple[int, int] = (1, 6)
    hot_length_px: tuple[int, int] = (10, 120)
    clusters: tuple[int, int] = (4, 16)
    cluster_threshold_sigma: float = 1.0
    cti: float = 0.0
    binning: int = 1

    @property
    def noise_sigma_adu(self) -> float:
        """Readout noise of one pixel, ADU: noise / sqrt(nSamples)."""
        return self.readout_noise_adu / math.sqrt(self.n_samples)

    @property
    def cluster_threshold_adu(self) -> float:
        """Deposited charge (ADU) from which a pixel is truth class 'cluster'."""
        return self.cluster_threshold_sigma * self.noise_sigma_adu


def noise_free(params: SimulationParameters | None = None) -> SimulationParameters:
    """The same physics without readout noise or dark current."""
    return replace(params or SimulationParameters(), readout_noise_adu=0.0, dark_current_e_per_pixel_day=0.0)


def random_parameters(rng: np.random.Generator) -> SimulationParameters:
    """Draw varied physics for robust training: pedestal, noise, gain, intensities, counts.

    The ranges straddle the defaults widely so that a model learns shapes and
    contrasts, not our simulator's particular numbers.
    """
    noise_sigma = rng.uniform(10.0, 35.0)
    glow_low = rng.uniform(500.0, 2600.0)
    return SimulationParameters(
        pedestal_adu=float(rng.uniform(500.0, 30000.0)),
        readout_noise_adu=float(noise_sigma * math.sqrt(10)),
        dark_current_e_per_pixel_day=float(rng.choice([0.0, rng.uniform(0.0, 5.0)])),
        exposure_s=float(rng.uniform(0.0, 86400.0)),
        adu_per_charge_unit=float(rng.uniform(120.0, 300.0)),
        glowing_probability=0.6,
        glowing_adu=(float(glow_low), float(glow_low * rng.uniform(1.0, 1.15))),
        glowing_width_px=(int(rng.integers(10, 40)), int(rng.integers(40, 90))),
        hot_pixel_adu=float(rng.uniform(1000.0, 4500.0)),
        hot_segments=(0, int(rng.integers(2, 10))),
        clusters=(int(rng.integers(1, 8)), int(rng.integers(10, 32))),
    )


@dataclass
class Frame:
    """One simulated frame and its exact truth.

    image : (h, w) float32 ADU; truth : (h, w) uint8 class ids;
    cluster_adu : (h, w) float32 deposited cluster charge in ADU.
    """

    image: np.ndarray
    truth: np.ndarray
    cluster_adu: np.ndarray
    params: SimulationParameters = field(default_factory=SimulationParameters)


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


def truth_classes(
    glowing: np.ndarray, hot: np.ndarray, cluster_adu: np.ndarray, threshold_adu: float
) -> np.ndarray:
    """Exact truth (h, w) uint8 with priority hot pixel > cluster > glowing > background."""
    truth = np.full(glowing.shape, BACKGROUND, dtype=np.uint8)
    truth[glowing] = GLOWING
    truth[(cluster_adu > 0) & (cluster_adu >= threshold_adu)] = CLUSTER
    truth[hot] = HOT_PIXEL
    return truth


def simulate_frame(
    rng: np.random.Generator,
    params: SimulationParameters | None = None,
    layout: str = "mixed",
    shape: tuple[int, int] = (256, 256),
    library: list[np.ndarray] | None = None,
) -> Frame:
    """Build one CCD frame (h, w) in ADU and its exact truth.

    All randomness comes from `rng`. With `params.binning` b > 1 the charge is
    simulated on (b*h, b*w) pixels and summed before readout noise is added.
    """
    params = params or SimulationParameters()
    if layout not in LAYOUTS:
        raise UserInputError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if len(shape) != 2 or min(shape) < 1:
        raise UserInputError(f"frame shape {shape} must be two positive sizes")
    library = library if library is not None else load_cluster_library()
    b = int(params.binning)
    fine = (shape[0] * b, shape[1] * b)
    glow_adu, glow = glowing_columns(fine, params, layout, rng)
    hot = hot_pixel_segments(fine, params, layout, rng)
    cluster_adu = charge_transfer_losses(paste_clusters(fine, params, layout, rng, library), params, rng)
    charge = glow_adu + cluster_adu + dark_current(fine, params, rng)
    charge[hot] += params.hot_pixel_adu
    charge = reduce_image(charge, b)
    cluster_adu = reduce_image(cluster_adu, b)
    glow, hot = reduce_image(glow, b, "max"), reduce_image(hot, b, "max")
    noise = rng.normal(0.0, params.noise_sigma_adu, shape) if params.noise_sigma_adu > 0 else 0.0
    image = (params.pedestal_adu + charge + noise).astype(np.float32)
    truth = truth_classes(glow, hot, cluster_adu, params.cluster_threshold_adu)
    return Frame(image=image, truth=truth, cluster_adu=cluster_adu.astype(np.float32), params=params)


def plot_charge_distribution(frame: Frame, path: str | Path | None = None, show: bool = True) -> None:
    """Histogram of pixel values above pedestal per truth class (log counts), saved as PNG."""
    from figures import plot_pixel_histogram

    plot_pixel_histogram(frame.image, frame.truth, frame.params.pedestal_adu, path, show)


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Rewrite the cluster library `Cluster.pkl` from a seed and print its statistics."""
    parser = argparse.ArgumentParser(
        description="Generate the cluster library Cluster.pkl from physics.", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=LIBRARY_SEED, help="seed of the library")
    parser.add_argument("--count", type=int, default=LIBRARY_SIZE, help="number of stamps")
    parser.add_argument("--output", type=Path, default=LIBRARY_PATH, help="the pickle to write")
    parser.add_argument("--force", action="store_true", help="overwrite an existing library")
    args = parser.parse_args(argv)

    def run() -> None:
        library = make_cluster_library(args.count, args.seed)
        save_cluster_library(library, args.output, force=args.force)
        for key, value in library_statistics(library).items():
            print(f"{key}: {value:.3g}" if isinstance(value, float) else f"{key}: {value}")
        print(f"wrote {args.output}")

    return run_command(run)

if __name__ == "__main__":
    raise SystemExit(main())
