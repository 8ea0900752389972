"""Particle deposits in a skipper CCD, in electrons: X-ray lines, faint points, electron tracks, muons, alpha blobs.

Energy (eV) becomes electrons at `EV_PER_ELECTRON` with Fano fluctuations;
the charge then diffuses sideways by a Gaussian whose spread grows with the
depth of the interaction (`diffusion_sigma_px`: 0.2 px at the front,
1.2 px at the back). Each maker returns a stamp (h, w) int32 of electrons:
the total is distributed over the pixels multinomially, so every electron
lands in one pixel, and a pixel is touched by the particle when it holds at
least one.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import erf

from ccdseg.core.errors import UserInputError
from ccdseg.core.physics import (
    DIFFUSION_SIGMA_PX,
    EV_PER_ELECTRON,
    FANO_FACTOR,
    MIP_ELECTRONS_PER_UM,
    PIXEL_SIZE_UM,
    THICKNESS_UM,
)
from ccdseg.simulate.cluster_library import render_deposits

# %% Defaults
X_RAY_LINES_EV = {5900.0: 0.80, 6490.0: 0.12, 8040.0: 0.08}  # Mn K-alpha, Mn K-beta (55Fe), Cu K-alpha
LOW_ENERGY_EV = (30.0, 3000.0)  # faint points: the dark-matter signal region, log-uniform
ELECTRON_EV = (5e3, 1e6)  # Compton and beta electrons, log-uniform
MUON_LENGTH_PX = (3.0, 600.0)  # projected length, log-uniform
ALPHA_EV = (3e6, 6.5e6)
ALPHA_SIGMA_PX = (1.5, 6.0)
THICKNESS_PX = THICKNESS_UM / PIXEL_SIZE_UM


# %% Charge
def electrons_from_energy(rng: np.random.Generator, energy_ev: float) -> int:
    """Number of electrons made by `energy_ev` in silicon: mean E / 3.75 eV, Fano-narrowed Gaussian spread."""
    mean = energy_ev / EV_PER_ELECTRON
    return max(int(round(rng.normal(mean, math.sqrt(FANO_FACTOR * mean)))), 0)


def diffusion_sigma_px(depth: np.ndarray | float) -> np.ndarray:
    """Lateral diffusion sigma (px) of charge made at relative depth 0 (front) .. 1 (back)."""
    low, high = DIFFUSION_SIGMA_PX
    return low + (high - low) * np.sqrt(np.clip(depth, 0.0, 1.0))


def to_electrons(rng: np.random.Generator, expected: np.ndarray, total: int) -> np.ndarray:
    """Distribute `total` electrons over a stamp's pixels in proportion to `expected` (h, w): int32 stamp."""
    p = expected.ravel().astype(np.float64)
    p /= p.sum()
    return rng.multinomial(total, p).reshape(expected.shape).astype(np.int32)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def render_path(x: np.ndarray, y: np.ndarray, q: np.ndarray, sigma: np.ndarray, chunk: int = 32) -> np.ndarray:
    """Expected charge (h, w) float64 of point charges `q` at (x, y) px diffused by `sigma` px, cropped to its pixels.

    Points are rendered in chunks of `chunk`, each into the small box it
    covers, so a track hundreds of pixels long costs little more than its
    own pixels (pixel-integrated Gaussians, as `cluster_library.render_deposits`).
    """
    margin = 4.0 * float(sigma.max()) + 2.0
    x0, y0 = math.floor(x.min() - margin), math.floor(y.min() - margin)
    canvas = np.zeros((math.ceil(y.max() + margin) - y0, math.ceil(x.max() + margin) - x0))
    for start in range(0, len(x), chunk):
        part = slice(start, start + chunk)
        cx, cy, cq, cs = x[part] - x0, y[part] - y0, q[part], sigma[part]
        half = 4.0 * float(cs.max()) + 1.0
        left, top = max(math.floor(cx.min() - half), 0), max(math.floor(cy.min() - half), 0)
        right = min(math.ceil(cx.max() + half) + 1, canvas.shape[1])
        bottom = min(math.ceil(cy.max() + half) + 1, canvas.shape[0])
        fx = np.diff(0.5 * erf((np.arange(left, right + 1)[None] - cx[:, None] - 0.5) / (math.sqrt(2) * cs[:, None])), axis=1)
        fy = np.diff(0.5 * erf((np.arange(top, bottom + 1)[None] - cy[:, None] - 0.5) / (math.sqrt(2) * cs[:, None])), axis=1)
        canvas[top:bottom, left:right] += np.einsum("k,ky,kx->yx", cq, fy, fx)
    rows, cols = np.flatnonzero(canvas.any(axis=1)), np.flatnonzero(canvas.any(axis=0))
    return canvas[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


# %% The deposits
def x_ray(rng: np.random.Generator) -> np.ndarray:
    """A line X-ray (5.9, 6.5 or 8.0 keV): one point deposit at a random depth."""
    energies = list(X_RAY_LINES_EV)
    energy = energies[int(rng.choice(len(energies), p=list(X_RAY_LINES_EV.values())))]
    return _point(rng, energy)


def low_energy(rng: np.random.Generator) -> np.ndarray:
    """A faint point deposit, 30 eV to 3 keV (log-uniform): the signal region of a dark-matter search."""
    return _point(rng, _log_uniform(rng, *LOW_ENERGY_EV))


def _point(rng: np.random.Generator, energy_ev: float) -> np.ndarray:
    """One diffusion-limited deposit; its depth is drawn so that its spread is uniform over the diffusion range."""
    sigma = diffusion_sigma_px(rng.uniform() ** 2)
    centre = rng.uniform(-0.5, 0.5, 2)
    expected = render_deposits(centre[:1], centre[1:], np.ones(1), np.array([float(sigma)]))
    return to_electrons(rng, expected, electrons_from_energy(rng, energy_ev))


def electron_track(rng: np.random.Generator) -> np.ndarray:
    """A curly electron track (5 keV to 1 MeV): a 3-D random walk over its range, denser towards its end.

    The range in silicon follows Kanaya-Okayama (0.0319 um x E[keV]^1.67);
    the direction (azimuth and polar angle) wanders in steps of 0.3 px,
    more as the electron slows down, and the charge per step grows towards
    the end (Bragg). Depth is followed in 3-D and sets the diffusion.
    """
    energy = _log_uniform(rng, *ELECTRON_EV)
    range_px = max(0.0319 * (energy / 1e3) ** 1.67 / PIXEL_SIZE_UM, 0.3)
    steps = int(np.clip(range_px / 0.3, 2, 3000))
    remaining = 1.0 - np.arange(steps) / steps
    spread = 0.15 + 0.6 * (1.0 - remaining) ** 2  # radians per step
    azimuth = rng.uniform(0.0, 2.0 * math.pi) + np.cumsum(rng.normal(0.0, 1.0, steps) * spread)
    polar = math.acos(rng.uniform(-1.0, 1.0)) + np.cumsum(rng.normal(0.0, 1.0, steps) * spread)
    step = 0.3 * np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)])
    x, y, z = np.cumsum(step, axis=1)
    depth = np.clip(rng.uniform() + z / THICKNESS_PX, 0.0, 1.0)
    weights = 1.0 / np.sqrt(0.1 + remaining)
    expected = render_path(x, y, weights / weights.sum(), diffusion_sigma_px(depth))
    return to_electrons(rng, expected, electrons_from_energy(rng, energy))


def muon(rng: np.random.Generator) -> np.ndarray:
    """A straight minimum-ionising track through the whole thickness: thin at the front, wide at the back.

    Projected length log-uniform over `MUON_LENGTH_PX`; charge per micrometre
    of 3-D path with Landau-like (Moyal) fluctuations along the track.
    """
    length = _log_uniform(rng, *MUON_LENGTH_PX)
    steps = max(int(length * 3), 3)
    t = (np.arange(steps) + 0.5) / steps
    angle = rng.uniform(0.0, 2.0 * math.pi)
    x, y = length * t * math.cos(angle), length * t * math.sin(angle)
    depth = t if rng.uniform() < 0.5 else 1.0 - t
    path_um = math.hypot(length * PIXEL_SIZE_UM, THICKNESS_UM)
    landau = np.clip(1.0 - 0.15 * np.log(rng.chisquare(1.0, steps)), 0.3, 30.0)
    expected = render_path(x, y, landau / landau.sum(), diffusion_sigma_px(depth))
    mean = MIP_ELECTRONS_PER_UM * path_um * float(landau.mean())
    return to_electrons(rng, expected, int(rng.poisson(mean)))


def alpha_blob(rng: np.random.Generator) -> np.ndarray:
    """A large round blob: an alpha particle's few MeV in a dense plasma, spread over several pixels."""
    sigma = rng.uniform(*ALPHA_SIGMA_PX)
    centre = rng.uniform(-0.5, 0.5, 2)
    expected = render_deposits(centre[:1], centre[1:], np.ones(1), np.array([sigma]))
    return to_electrons(rng, expected, electrons_from_energy(rng, rng.uniform(*ALPHA_EV)))


MAKERS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "x-ray": x_ray,
    "low-energy": low_energy,
    "electron": electron_track,
    "muon": muon,
    "alpha": alpha_blob,
}


def draw_deposits(rng: np.random.Generator, count: int, mixture: dict[str, float]) -> list[tuple[str, np.ndarray]]:
    """`count` deposits as (kind, stamp (h, w) int32 electrons), kinds drawn from `mixture` (kind of `MAKERS` -> share)."""
    unknown = set(mixture) - set(MAKERS)
    if unknown:
        raise UserInputError(f"unknown deposit kinds {sorted(unknown)}; use {', '.join(MAKERS)}")
    names = list(mixture)
    shares = np.array([mixture[n] for n in names], dtype=np.float64)
    kinds = rng.choice(len(names), size=count, p=shares / shares.sum())
    return [(names[k], MAKERS[names[k]](rng)) for k in kinds]
