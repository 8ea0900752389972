"""The cluster library `Cluster.pkl`: charge stamps of particle deposits, made from physics.

Stamps are 2-D float32 arrays of deposited charge in stamp units (one unit is
`SimulationParameters.adu_per_charge_unit` ADU in a frame). They are made by
`make_cluster_library`: diffusion-limited point deposits, straight muon
tracks whose diffusion grows with depth, and multiple-scattering electron
"worms". The pickle is read back by an unpickler that builds numpy arrays and
nothing else.

`image_details.py` rewrites `Cluster.pkl` from a seed:
    python image_details.py --seed 0 --force
"""
from __future__ import annotations

import io
import math
import pickle
from pathlib import Path

import numpy as np
from scipy.special import erf

from ccdseg.core import paths
from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import write_atomically

# %% Defaults
LIBRARY_SIZE = 1600
LIBRARY_SEED = 0
STAMP_CUTOFF_UNITS = 0.002
LIBRARY_MIXTURE = {
    "faint point": 0.35,
    "single pixel": 0.08,
    "compact bright": 0.05,
    "point": 0.364,
    "worm": 0.114,
    "muon": 0.042,
}
BRIGHT_MIXTURE = {"point": 0.7, "worm": 0.22, "muon": 0.08}
FAINT_CHARGE_UNITS = (0.3, 20.0)  # 60 to 4000 ADU at 200 ADU per unit
FAINT_SIGMA_PX = (0.2, 1.5)
SINGLE_CHARGE_UNITS = (0.3, 15.0)
COMPACT_CHARGE_UNITS = (10.0, 80.0)


# %% Stamps from physics
def _pixel_fractions(centres: np.ndarray, sigmas: np.ndarray, size: int) -> np.ndarray:
    """(k, size) fraction of each Gaussian deposit falling in pixels 0..size-1."""
    edges = np.arange(size + 1, dtype=np.float64)
    z = (edges[None, :] - centres[:, None]) / (np.sqrt(2.0) * sigmas[:, None])
    cdf = 0.5 * (1.0 + erf(z))
    return np.diff(cdf, axis=1)


def render_deposits(x: np.ndarray, y: np.ndarray, q: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Render point charges (units) with diffusion sigmas (px) into a tight stamp (h, w) float32."""
    margin = 4.0 * float(sigma.max()) + 2.0
    x0, y0 = math.floor(x.min() - margin), math.floor(y.min() - margin)
    width = math.ceil(x.max() + margin) - x0
    height = math.ceil(y.max() + margin) - y0
    fx = _pixel_fractions(x - x0, sigma, width)
    fy = _pixel_fractions(y - y0, sigma, height)
    stamp = np.einsum("k,ky,kx->yx", q, fy, fx)
    stamp[stamp < STAMP_CUTOFF_UNITS] = 0.0
    rows = np.flatnonzero(stamp.any(axis=1))
    cols = np.flatnonzero(stamp.any(axis=0))
    if rows.size == 0:
        return np.full((1, 1), float(q.sum()), dtype=np.float32)
    return stamp[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)


def _diffusion_sigma(depth: np.ndarray | float) -> np.ndarray:
    """Lateral diffusion (px) of charge made at relative depth 0 (front) .. 1 (back)."""
    return 0.55 + 0.75 * np.sqrt(np.clip(depth, 0.0, 1.0))


def _point_deposit(rng: np.random.Generator) -> np.ndarray:
    charge = min(rng.lognormal(math.log(36.0), 0.6), 120.0)
    depth = rng.uniform(0.0, 1.0)
    n = 12
    spread = rng.uniform(0.0, 0.6)
    return render_deposits(
        rng.normal(0, spread, n), rng.normal(0, spread, n), np.full(n, charge / n), np.full(n, _diffusion_sigma(depth))
    )


def _electron_worm(rng: np.random.Generator) -> np.ndarray:
    charge = min(rng.lognormal(math.log(55.0), 0.5), 270.0)
    steps = int(np.clip(charge / 3.0, 6, 120))
    turn = rng.normal(0.0, 0.55, steps)
    angle = rng.uniform(0, 2 * np.pi) + np.cumsum(turn)
    step_px = rng.uniform(0.4, 0.9)
    x = np.cumsum(step_px * np.cos(angle))
    y = np.cumsum(step_px * np.sin(angle))
    dedx = np.linspace(0.6, 1.6, steps) * rng.gamma(4.0, 0.25, steps)
    q = charge * dedx / dedx.sum()
    depth = np.clip(rng.uniform(0, 1) + np.cumsum(rng.normal(0, 0.02, steps)), 0, 1)
    return render_deposits(x, y, q, _diffusion_sigma(depth))


def _muon_track(rng: np.random.Generator) -> np.ndarray:
    length = rng.uniform(8.0, 100.0)
    n = int(length * 3)
    t = np.linspace(0.0, 1.0, n)
    angle = rng.uniform(0, 2 * np.pi)
    x, y = length * t * np.cos(angle), length * t * np.sin(angle)
    dedx_units_per_px = rng.uniform(0.5, 1.0)
    q = rng.gamma(6.0, 1.0 / 6.0, n) * dedx_units_per_px * length / n
    depth = t if rng.uniform() < 0.5 else 1.0 - t
    return render_deposits(x, y, q, _diffusion_sigma(depth))


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _faint_point(rng: np.random.Generator) -> np.ndarray:
    """The dark-matter signal: one diffusion-limited deposit, from the noise floor to a few thousand ADU.

    Total charge flat in log from FAINT_CHARGE_UNITS[0] (about 3 noise sigmas
    at the default 200 ADU per unit) to FAINT_CHARGE_UNITS[1]; diffusion sigma
    0.2 px (front) to 1.5 px (back) with depth; sub-pixel centre.
    """
    charge = _log_uniform(rng, *FAINT_CHARGE_UNITS)
    sigma = FAINT_SIGMA_PX[0] + (FAINT_SIGMA_PX[1] - FAINT_SIGMA_PX[0]) * math.sqrt(rng.uniform())
    centre = rng.uniform(-0.5, 0.5, 2)
    return render_deposits(centre[:1], centre[1:], np.array([charge]), np.array([sigma]))


def _single_pixel_hit(rng: np.random.Generator) -> np.ndarray:
    """All charge in one pixel (a front-side hit, or a deposit smaller than the pixel)."""
    return np.full((1, 1), _log_uniform(rng, *SINGLE_CHARGE_UNITS), dtype=np.float32)


def _compact_bright(rng: np.random.Generator) -> np.ndarray:
    """A bright deposit of a few pixels: a cluster, not a hot pixel (those are long rows or columns)."""
    n = int(rng.integers(1, 4))
    charge = _log_uniform(rng, *COMPACT_CHARGE_UNITS)
    return render_deposits(rng.normal(0, 0.6, n), rng.normal(0, 0.6, n), np.full(n, charge / n),
                           np.full(n, rng.uniform(0.2, 0.45)))


MAKERS = {
    "faint point": _faint_point,
    "single pixel": _single_pixel_hit,
    "compact bright": _compact_bright,
    "point": _point_deposit,
    "worm": _electron_worm,
    "muon": _muon_track,
}


def make_cluster_library(
    n: int = LIBRARY_SIZE, seed: int = LIBRARY_SEED, mixture: dict[str, float] | None = None
) -> list[np.ndarray]:
    """Generate `n` cluster charge stamps (2-D float32, charge units) from physics.

    The kinds and their shares are `LIBRARY_MIXTURE`: faint diffusion-limited
    points from the noise floor up (flat in log charge), single-pixel hits,
    compact bright deposits, and the brighter population of point deposits,
    electron worms and muon tracks. `mixture` (kind -> share, kinds of
    `MAKERS`) replaces it; `BRIGHT_MIXTURE` gives the library of the previous
    release, whose stamps never held less than about 2,700 ADU.
    """
    mixture = mixture or LIBRARY_MIXTURE
    unknown = set(mixture) - set(MAKERS)
    if unknown:
        raise UserInputError(f"unknown cluster kinds {sorted(unknown)}; use {', '.join(MAKERS)}")
    rng = np.random.default_rng(seed)
    names = list(mixture)
    kinds = rng.choice(len(names), size=n, p=np.array(list(mixture.values())) / sum(mixture.values()))
    return [MAKERS[names[k]](rng) for k in kinds]


def library_statistics(library: list[np.ndarray]) -> dict[str, float]:
    """Median bounding box, non-zero pixels, total and peak charge of a stamp library."""
    heights = np.array([s.shape[0] for s in library])
    widths = np.array([s.shape[1] for s in library])
    nonzero = np.concatenate([s[s > 0] for s in library])
    return {
        "stamps": len(library),
        "median_height_px": float(np.median(heights)),
        "median_width_px": float(np.median(widths)),
        "max_height_px": int(heights.max()),
        "max_width_px": int(widths.max()),
        "median_nonzero_px": float(np.median([np.count_nonzero(s) for s in library])),
        "median_charge_units": float(np.median([s.sum() for s in library])),
        "max_charge_units": float(max(s.sum() for s in library)),
        "median_peak_units": float(np.median([s.max() for s in library])),
        "max_peak_units": float(max(s.max() for s in library)),
        "fraction_nonzero_below_0p1": float(np.mean(nonzero < 0.1)),
    }


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can build numpy arrays and lists, and nothing else."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_cluster_library(path: str | Path | None = None) -> list[np.ndarray]:
    """Load a cluster library (default: the repository's `Cluster.pkl`): a pickled list of 2-D float arrays, nothing else.

    Any other content (code objects, other classes) is refused without being
    executed, with a `UserInputError` naming the file.
    """
    path = Path(path) if path is not None else paths.CLUSTER_LIBRARY
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read cluster library ({exc.strerror or exc})") from None
    try:
        library = _ArraysOnlyUnpickler(io.BytesIO(data)).load()
    except Exception as exc:
        raise UserInputError(f"{path}: not a cluster library ({exc})") from None
    if not isinstance(library, list) or not library:
        raise UserInputError(f"{path}: a cluster library must be a non-empty list of 2-D arrays")
    for i, stamp in enumerate(library):
        if not (isinstance(stamp, np.ndarray) and stamp.ndim == 2 and np.issubdtype(stamp.dtype, np.floating)):
            raise UserInputError(f"{path}: item {i} is not a 2-D float array")
        if stamp.size == 0 or not np.all(np.isfinite(stamp)) or stamp.min() < 0:
            raise UserInputError(f"{path}: item {i} is empty, negative or not finite")
    return [s.astype(np.float32, copy=False) for s in library]


def save_cluster_library(library: list[np.ndarray], path: str | Path, force: bool = False) -> None:
    """Pickle a list of 2-D float32 stamps, atomically; refuse to replace a file unless `force`."""
    data = pickle.dumps([np.ascontiguousarray(s, dtype=np.float32) for s in library], protocol=4)
    write_atomically(path, lambda tmp: tmp.write_bytes(data), force)
