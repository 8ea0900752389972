"""One simulated skipper-CCD amplifier frame (DAMIC-M), built from its components in electrons, with its exact truth.

The frame in ADU is pedestal(row) + gain x electrons + readout noise. The
electrons come from separate components, each kept apart so the truth of
every pixel is known:

* background: Poisson dark current and spurious charge, rising with the row;
  a dark-current electron is background however bright its pixel fluctuates;
* glowing: the first column's excess and, in some frames, amplifier glow
  decaying away from the readout corner (row 0, column 0);
* hot pixel: hot columns (a defect's charge in every pixel transferred
  through it, Poisson) and one-row serial-register streaks. Streaks are
  charge of a particle, but collected in the serial register during
  readout: it lies in the wrong place and has no image-area shape, and the
  experiments mask it like a hot row, so it is a defect here too;
* cluster: a pixel holding at least `cluster_threshold_electrons` deposited
  by a particle (`deposits.py`), including the serial charge-transfer trail
  the particle's charge leaves in the pixels read after it.

Where objects overlap the priority is hot pixel > cluster > glowing > background.
"""
from __future__ import annotations

import math

import numpy as np

from ccdseg.core.errors import UserInputError
from ccdseg.simulate.deposits import draw_deposits
from ccdseg.simulate.detector import REFERENCE_COLUMNS, REFERENCE_ROWS, Detector, check_detector
from ccdseg.simulate.frame import Frame, truth_classes

# %% Defaults
TRAIL_LENGTH_PX = 5  # columns after a pixel that its serial transfer trail reaches


# %% Components, each (electrons (h, w), truth mask (h, w) bool)
def _count(rng: np.random.Generator, per_frame: float, share: float) -> int:
    """A Poisson count of objects: `per_frame` per reference amplifier frame, times the `share` of one this frame is."""
    return int(rng.poisson(per_frame * share))


def dark_current_electrons(shape: tuple[int, int], detector: Detector, rng: np.random.Generator) -> np.ndarray:
    """Poisson dark current and spurious charge (h, w) int32, its mean rising with the row."""
    return rng.poisson(detector.dark_current_profile(shape[0])[:, None], shape).astype(np.int32)


def glow_electrons(shape: tuple[int, int], detector: Detector, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The first column's excess and (in some frames) amplifier glow from the readout corner: electrons and truth.

    Glow pixels are glowing where their mean excess is at least one
    electron; the first column is glowing in every row.
    """
    height, width = shape
    mean = np.zeros(shape, dtype=np.float64)
    mean[:, 0] = detector.first_column_excess_electrons
    if rng.uniform() < detector.amplifier_glow_probability:
        length = detector.amplifier_glow_length_px
        decay = np.exp(-np.arange(height) / length)[:, None] * np.exp(-np.arange(width) / length)[None]
        mean += detector.amplifier_glow_electrons * decay
    glowing = mean >= 1.0
    glowing[:, 0] = detector.first_column_excess_electrons > 0
    return rng.poisson(mean).astype(np.int32), glowing


def hot_column_electrons(shape: tuple[int, int], detector: Detector, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hot columns: from a defect's row to the top of the frame, a Poisson excess per pixel; electrons and truth.

    A frame measured with `Detector.from_fit` has its hot columns (whole
    columns); otherwise `hot_columns_per_frame` are drawn, each with its
    own excess (log-uniform over `hot_column_electrons`) and defect row.
    """
    height, width = shape
    mean = np.zeros(shape, dtype=np.float64)
    if detector.hot_columns:
        columns = [(int(c), float(e), 0) for c, e in detector.hot_columns if 0 <= int(c) < width]
    else:
        low, high = (math.log(v) for v in detector.hot_column_electrons)
        columns = [(int(rng.integers(1, width)), math.exp(rng.uniform(low, high)),
                    int(rng.integers(0, height // 2)) if rng.uniform() < 0.5 else 0)
                   for _ in range(_count(rng, detector.hot_columns_per_frame, width / REFERENCE_COLUMNS))]
    for column, excess, first_row in columns:
        mean[first_row:, column] += excess
    return rng.poisson(mean).astype(np.int32), mean > 0


def serial_streaks(shape: tuple[int, int], detector: Detector, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One-row serial-register streaks: tens to hundreds of columns, a few electrons per pixel; electrons and truth."""
    height, width = shape
    mean = np.zeros(shape, dtype=np.float64)
    for _ in range(_count(rng, detector.serial_streaks_per_frame, height / REFERENCE_ROWS)):
        length = int(rng.integers(*detector.serial_streak_length_px))
        row, start = int(rng.integers(0, height)), int(rng.integers(-length // 2, width))
        mean[row, max(start, 0) : max(min(start + length, width), 0)] += rng.uniform(*detector.serial_streak_electrons)
    return rng.poisson(mean).astype(np.int32), mean > 0


def particle_electrons(shape: tuple[int, int], detector: Detector,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Every particle's deposit (`deposits.py`) pasted anywhere on the frame (parts may fall off its edges).

    Returns the electrons (h, w) int32, the deposit each pixel belongs to
    (h, w) int32 (1.. in the order drawn, the one that left most electrons
    there; 0 where none did) and each deposit's kind.
    """
    height, width = shape
    charge = np.zeros(shape, dtype=np.int32)
    ids, most = np.zeros(shape, dtype=np.int32), np.zeros(shape, dtype=np.int32)
    count = _count(rng, detector.clusters_per_frame, height * width / (REFERENCE_ROWS * REFERENCE_COLUMNS))
    drawn = draw_deposits(rng, count, detector.deposit_mixture)
    for number, (_, stamp) in enumerate(drawn, start=1):
        stamp = np.rot90(stamp, int(rng.integers(4)))
        sh, sw = stamp.shape
        top, left = int(rng.integers(-(sh // 2), height - sh // 2)), int(rng.integers(-(sw // 2), width - sw // 2))
        y0, y1, x0, x1 = max(top, 0), min(top + sh, height), max(left, 0), min(left + sw, width)
        if y1 > y0 and x1 > x0:
            part = stamp[y0 - top : y1 - top, x0 - left : x1 - left]
            charge[y0:y1, x0:x1] += part
            mine = part > most[y0:y1, x0:x1]
            ids[y0:y1, x0:x1][mine], most[y0:y1, x0:x1][mine] = number, part[mine]
    return charge, ids, tuple(kind for kind, _ in drawn)


def serial_trail(charge: np.ndarray, cti: float, rng: np.random.Generator) -> np.ndarray:
    """Charge left behind by serial transfer: each pixel's electrons trail into the next `TRAIL_LENGTH_PX` columns.

    A share `cti` stays in the next pixel read, half that in the one after,
    and so on (binomial, moved, so the total is kept). Returns the charge
    with its trail, (h, w) int32.
    """
    if cti <= 0 or not charge.any():
        return charge
    shares = cti * 0.5 ** np.arange(TRAIL_LENGTH_PX)
    left = charge.astype(np.int64)
    out = charge.astype(np.int64)
    for step, share in enumerate(shares, start=1):
        moved = rng.binomial(left, share)
        out -= moved
        out[:, step:] += moved[:, :-step]
    return out.astype(np.int32)


# %% The frame
def simulate_skipper_frame(rng: np.random.Generator, detector: Detector | None = None,
                           shape: tuple[int, int] = (320, 640)) -> Frame:
    """Build one skipper-CCD amplifier frame (h, w) in ADU and its exact truth.

    All randomness comes from `rng`. Returns a `Frame`: image (h, w) float32
    ADU (pedestal not subtracted), truth (h, w) uint8 and the deposited
    particle charge `cluster_adu` (h, w) float32 in ADU (electrons x gain).
    """
    detector = detector or Detector()
    check_detector(detector)
    if len(shape) != 2 or min(shape) < 1:
        raise UserInputError(f"frame shape {shape} must be two positive sizes")
    shape = (int(shape[0]), int(shape[1]))
    glow, glowing = glow_electrons(shape, detector, rng)
    hot, hot_mask = hot_column_electrons(shape, detector, rng)
    streaks, streak_mask = serial_streaks(shape, detector, rng)
    particles, deposit_ids, kinds = particle_electrons(shape, detector, rng)
    particles = serial_trail(particles, detector.serial_cti, rng)
    electrons = dark_current_electrons(shape, detector, rng) + glow + hot + streaks + particles
    pedestal = detector.pedestal_profile(shape[0]) + rng.normal(0.0, detector.pedestal_row_jitter_adu, shape[0])
    noise = rng.normal(0.0, detector.noise_adu, shape) if detector.noise_adu > 0 else 0.0
    image = (pedestal[:, None] + detector.gain_adu_per_electron * electrons + noise).astype(np.float32)
    cluster_adu = (particles * detector.gain_adu_per_electron).astype(np.float32)
    truth = truth_classes(glowing, hot_mask | streak_mask, cluster_adu, detector.cluster_threshold_adu)
    return Frame(image=image, truth=truth, cluster_adu=cluster_adu, params=detector, deposit_ids=deposit_ids,
                 deposit_kinds=kinds)
