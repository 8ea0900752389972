"""Held-out test populations: cluster shapes and detector physics never used in training.

A model trained on `frame.simulate_frame` frames (clusters from
`cluster_library.make_cluster_library`, physics from
`parameters.random_parameters`) is judged here on frames it never saw:

* "other-clusters": default physics, clusters from `other_cluster_library`
  (compact 1-6 pixel hits, anisotropic Gaussian blobs, delta rays, curly
  low-energy tracks, with a falling charge spectrum: many faint clusters);
* "other-physics": our own cluster library in detector physics outside the
  training ranges (`other_physics`);
* "both": other clusters in other physics.

These frames are for testing only; the benchmark reports them separately.

`python image_simulation.py --population-table` prints their statistics.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import ndimage
from scipy.special import erf

from ccdseg.core.classes import CLUSTER
from ccdseg.core.errors import UserInputError
from ccdseg.simulate.cluster_library import load_cluster_library, render_deposits
from ccdseg.simulate.datasets import simulate_frames
from ccdseg.simulate.parameters import SimulationParameters

# %% Defaults
OTHER_LIBRARY_SIZE = 800
OTHER_LIBRARY_SEED = 20_250_101  # never the training library's seed
STAMP_CUTOFF_UNITS = 0.002
# mixture of `other_cluster_library`: compact hits, elliptical blobs, delta rays, curly tracks
OTHER_MIXTURE = {"compact": 0.35, "elliptical": 0.35, "delta ray": 0.15, "curly": 0.15}
# falling (log-uniform) charge spectrum of hits and blobs, stamp units (x 200 ADU at default physics)
SMALL_CHARGE_UNITS = (0.1, 25.0)
PERCENTILES = (5, 25, 50, 75, 95)
REFERENCE = "default"  # `population_statistics` name for the training simulation's default frames

POPULATIONS = {
    "other-clusters": "default physics; clusters from other_cluster_library (small, faint, anisotropic, curly)",
    "other-physics": (
        "our cluster library; pedestal, noise, gain, glow and hot pixels outside training ranges; dark current; CTI"
    ),
    "both": "other_cluster_library clusters in other_physics detector physics",
}


# %% Cluster stamps of another kind
def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _trim(stamp: np.ndarray) -> np.ndarray:
    """Cut charge below the cutoff and crop to the non-zero box, float32."""
    stamp = np.where(stamp < STAMP_CUTOFF_UNITS, 0.0, stamp)
    rows, cols = np.flatnonzero(stamp.any(axis=1)), np.flatnonzero(stamp.any(axis=0))
    if rows.size == 0:
        return np.full((1, 1), max(float(stamp.sum()), STAMP_CUTOFF_UNITS), dtype=np.float32)
    return stamp[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)


def _compact_hit(rng: np.random.Generator) -> np.ndarray:
    """1 to 6 touching pixels (single hits, 2x1, 2x2, L shapes), most charge in the first."""
    n_px = int(rng.choice(6, p=[0.35, 0.25, 0.15, 0.15, 0.05, 0.05])) + 1
    pixels = [(0, 0)]
    while len(pixels) < n_px:
        row, col = pixels[int(rng.integers(len(pixels)))]
        drow, dcol = ((0, 1), (1, 0), (0, -1), (-1, 0))[int(rng.integers(4))]
        if (row + drow, col + dcol) not in pixels:
            pixels.append((row + drow, col + dcol))
    share = np.sort(rng.dirichlet(np.full(n_px, 1.5)))[::-1]
    rows, cols = np.array(pixels).T
    stamp = np.zeros((np.ptp(rows) + 1, np.ptp(cols) + 1))
    stamp[rows - rows.min(), cols - cols.min()] = share * _log_uniform(rng, *SMALL_CHARGE_UNITS)
    return _trim(stamp)


def _axis_fractions(centre: float, sigma: float, size: int) -> np.ndarray:
    """(size,) fraction of a 1-D Gaussian (px) falling in pixels 0..size-1."""
    z = (np.arange(size + 1) - centre) / (math.sqrt(2.0) * sigma)
    return np.diff(0.5 * (1.0 + erf(z)))


def _elliptical_blob(rng: np.random.Generator) -> np.ndarray:
    """Gaussian blob with different diffusion along x and y (0.2 to 2 px each)."""
    sigma_x, sigma_y = rng.uniform(0.2, 2.0, 2)
    size_x, size_y = 2 * math.ceil(4 * sigma_x + 1) + 1, 2 * math.ceil(4 * sigma_y + 1) + 1
    fx = _axis_fractions(size_x / 2 + rng.uniform(-0.5, 0.5), sigma_x, size_x)
    fy = _axis_fractions(size_y / 2 + rng.uniform(-0.5, 0.5), sigma_y, size_y)
    return _trim(_log_uniform(rng, *SMALL_CHARGE_UNITS) * np.outer(fy, fx))


def _delta_ray(rng: np.random.Generator) -> np.ndarray:
    """Short straight segment (2-12 px) ending in a Bragg blob holding 30-60 % of the charge."""
    charge = _log_uniform(rng, 3.0, 60.0)
    length = rng.uniform(2.0, 12.0)
    n = max(int(length * 4), 4)
    t = np.linspace(0.0, 1.0, n)
    angle = rng.uniform(0, 2 * np.pi)
    blob_share = rng.uniform(0.3, 0.6)
    q = np.append(np.full(n, (1 - blob_share) * charge / n), blob_share * charge)
    x = np.append(length * t * np.cos(angle), length * np.cos(angle))
    y = np.append(length * t * np.sin(angle), length * np.sin(angle))
    sigma = np.append(np.full(n, rng.uniform(0.3, 0.8)), rng.uniform(0.6, 1.2))
    return render_deposits(x, y, q, sigma)


def _curly_track(rng: np.random.Generator) -> np.ndarray:
    """Low-energy electron whose curvature itself wanders: curls and spirals, small diffusion."""
    charge = 2.0 + rng.exponential(12.0)
    steps = int(rng.integers(20, 100))
    curvature = rng.normal(0.0, 0.3) + np.cumsum(rng.normal(0.0, 0.05, steps))
    angle = rng.uniform(0, 2 * np.pi) + np.cumsum(curvature)
    step_px = rng.uniform(0.2, 0.35)
    x, y = np.cumsum(step_px * np.cos(angle)), np.cumsum(step_px * np.sin(angle))
    q = charge * rng.dirichlet(np.full(steps, 2.0))
    return render_deposits(x, y, q, np.full(steps, rng.uniform(0.25, 0.6)))


def other_cluster_library(n: int = OTHER_LIBRARY_SIZE, seed: int = OTHER_LIBRARY_SEED) -> list[np.ndarray]:
    """Generate `n` cluster stamps (2-D float32, charge units) unlike `make_cluster_library`'s.

    Mixture (`OTHER_MIXTURE`): 35 % compact hits of 1-6 pixels, 35 % elliptical
    Gaussian blobs (sigma_x != sigma_y, 0.2-2 px), both with log-uniform charge
    0.1-25 units (20-5000 ADU at default physics); 15 % delta rays (3-60
    units); 15 % curly low-energy tracks (2 + exponential(12) units).
    """
    if n < 1:
        raise UserInputError(f"library size must be at least 1, not {n}")
    rng = np.random.default_rng(seed)
    makers = (_compact_hit, _elliptical_blob, _delta_ray, _curly_track)
    kinds = rng.choice(len(makers), size=n, p=list(OTHER_MIXTURE.values()))
    return [makers[k](rng) for k in kinds]


# %% Detector physics of another kind
def _outside(rng: np.random.Generator, low: tuple[float, float], high: tuple[float, float]) -> float:
    """Uniform draw from the low or the high range, each with probability 1/2."""
    return float(rng.uniform(*(low if rng.uniform() < 0.5 else high)))


def other_physics(rng: np.random.Generator) -> SimulationParameters:
    """Draw plausible CCD physics outside `parameters.random_parameters`' training ranges.

    Pedestal 40000-60000 or 100-400 ADU (never below 5 noise sigma), noise
    sigma 5-9 or 40-55 ADU, 60-110 or 320-450 ADU per charge unit, glow
    300-450 or 2800-3500 ADU, hot pixels 700-950 or 5000-6500 ADU, dark current
    0.5-5 e/pixel/day over 1-24 h, mild CTI (1e-6 to 1e-5) in 30 % of frames,
    gain 5-15 ADU per electron, binning 1.
    """
    noise_sigma_adu = _outside(rng, (5.0, 9.0), (40.0, 55.0))
    pedestal_adu = max(_outside(rng, (100.0, 400.0), (40000.0, 60000.0)), 5.0 * noise_sigma_adu)
    glow_adu = _outside(rng, (300.0, 450.0), (2800.0, 3500.0))
    n_samples = 10
    return SimulationParameters(
        pedestal_adu=pedestal_adu,
        readout_noise_adu=noise_sigma_adu * math.sqrt(n_samples),
        n_samples=n_samples,
        gain_adu_per_electron=float(rng.uniform(5.0, 15.0)),
        dark_current_e_per_pixel_day=float(rng.uniform(0.5, 5.0)),
        exposure_s=float(rng.uniform(3600.0, 86400.0)),
        adu_per_charge_unit=_outside(rng, (60.0, 110.0), (320.0, 450.0)),
        glowing_adu=(glow_adu, glow_adu * float(rng.uniform(1.0, 1.1))),
        hot_pixel_adu=_outside(rng, (700.0, 950.0), (5000.0, 6500.0)),
        cti=float(rng.uniform(1e-6, 1e-5)) if rng.uniform() < 0.3 else 0.0,
        binning=1,
    )


# %% Populations
@lru_cache(maxsize=2)
def _library(kind: str) -> tuple[np.ndarray, ...]:
    """The stamp library of a population, built once: 'ours' (Cluster.pkl) or 'other'."""
    return tuple(load_cluster_library() if kind == "ours" else other_cluster_library())


def _check_name(name: str, extra: tuple[str, ...] = ()) -> None:
    if name not in POPULATIONS and name not in extra:
        raise UserInputError(f"unknown population {name!r}; use one of {', '.join((*POPULATIONS, *extra))}")


def _frame_parameters(name: str, rng: np.random.Generator) -> SimulationParameters:
    return other_physics(rng) if name in ("other-physics", "both") else SimulationParameters()


def population_parameters(name: str, count: int, seed: int) -> list[SimulationParameters]:
    """The physics of each frame `simulate_population(name, count, seed)` makes, in order."""
    _check_name(name, (REFERENCE,))
    children = np.random.SeedSequence(seed).spawn(count)
    return [_frame_parameters(name, np.random.default_rng(child)) for child in children]


def _simulate(name: str, count: int, seed: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames of a population or of `REFERENCE` (default training physics and library)."""
    library = list(_library("other" if name in ("other-clusters", "both") else "ours"))
    draw = other_physics if name in ("other-physics", "both") else None
    return simulate_frames(count, seed, "mixed", shape, library=library, draw_params=draw, progress=False)


def simulate_population(
    name: str, count: int, seed: int, shape: tuple[int, int] = (256, 256)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held-out test frames of population `name` (a key of `POPULATIONS`), layout 'mixed'.

    Frame i is drawn from `np.random.SeedSequence(seed).spawn(count)[i]`; the
    same seed gives identical frames. Returns images (n, h, w) float32 ADU,
    truth (n, h, w) uint8 class ids and cluster_adu (n, h, w) float32 deposited
    cluster charge in ADU. Per-frame physics: `population_parameters`.
    """
    _check_name(name)
    return _simulate(name, count, seed, tuple(shape))


# %% Statistics
def cluster_properties(truth: np.ndarray, cluster_adu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Charge (ADU) and size (px) of each connected truth-cluster region of (n, h, w) frames.

    A region is an 8-connected set of truth == CLUSTER pixels, i.e. pixels whose
    deposited charge reaches the cluster threshold (1 noise sigma by default);
    its charge is the deposited charge summed over those pixels.
    """
    charges, sizes = [], []
    for frame_truth, frame_adu in zip(np.atleast_3d(truth), np.atleast_3d(cluster_adu)):
        labels, n = ndimage.label(frame_truth == CLUSTER, structure=np.ones((3, 3)))
        if n:
            index = np.arange(1, n + 1)
            charges.append(ndimage.sum_labels(frame_adu, labels, index))
            sizes.append(np.bincount(labels.ravel(), minlength=n + 1)[1:])
    if not charges:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    return np.concatenate(charges).astype(np.float64), np.concatenate(sizes).astype(np.int64)


def population_statistics(name: str, seed: int = 0, count: int = 20) -> dict[str, object]:
    """Cluster charge (ADU) and size (px >= threshold) percentiles over `count` frames.

    `name` is a key of `POPULATIONS` or `REFERENCE` ('default': the training
    simulation's default physics and library). Returns the number of clusters,
    {percentile: value} dicts `charge_adu` and `size_px` at `PERCENTILES`, and
    the fractions of clusters below 1000 ADU and of 1 to 6 pixels.
    """
    _check_name(name, (REFERENCE,))
    _, truth, cluster_adu = _simulate(name, count, seed, (256, 256))
    charge, size = cluster_properties(truth, cluster_adu)
    empty = {p: float("nan") for p in PERCENTILES}
    return {
        "clusters": int(charge.size),
        "charge_adu": dict(zip(PERCENTILES, np.percentile(charge, PERCENTILES))) if charge.size else empty,
        "size_px": dict(zip(PERCENTILES, np.percentile(size, PERCENTILES))) if size.size else empty,
        "fraction_below_1000_adu": float(np.mean(charge < 1000)) if charge.size else float("nan"),
        "fraction_1_to_6_px": float(np.mean(size <= 6)) if size.size else float("nan"),
    }


def statistics_table(seed: int = 0, count: int = 20) -> str:
    """Markdown table of `population_statistics` for the reference and every population."""
    head = "/".join(f"p{p}" for p in PERCENTILES)
    lines = [
        f"| population | clusters | charge ADU {head} | size px {head} | < 1000 ADU | 1-6 px |",
        "|---|---|---|---|---|---|",
    ]
    for name in (REFERENCE, *POPULATIONS):
        s = population_statistics(name, seed, count)
        charge = " / ".join(f"{v:.0f}" for v in s["charge_adu"].values())
        size = " / ".join(f"{v:.0f}" for v in s["size_px"].values())
        lines.append(
            f"| {name} | {s['clusters']} | {charge} | {size} "
            f"| {s['fraction_below_1000_adu']:.0%} | {s['fraction_1_to_6_px']:.0%} |"
        )
    return "\n".join(lines)
