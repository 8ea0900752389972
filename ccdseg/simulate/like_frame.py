"""A detector description measured from one real frame, to simulate frames like it (`image_simulation.py --like`).

The frame's physics is fitted as the experiments do it (`measure.calibration.fit_frame`:
pedestal per row, the Poisson-Gauss fit of gain, noise and dark current per
band of rows, first-column excess, hot columns); the particle rate is the
number of clusters the experiments' seed would start (a pixel of at least
`SEED_ELECTRONS`), matched by simulating frames of the fitted detector and
counting their seeded clusters the same way. Everything the frame does not
tell keeps the DAMIC-M preset's value.
"""
from __future__ import annotations

import numpy as np

from ccdseg.core.morphology import components
from ccdseg.core.physics import EV_PER_ELECTRON
from ccdseg.measure.frame_fit import fit_frame
from ccdseg.simulate.detector import Detector, detector_from_fit
from ccdseg.simulate.skipper import simulate_skipper_frame

# %% Defaults
CALIBRATION_FRAMES = 3
SEED_ELECTRONS = 30.0 / EV_PER_ELECTRON  # the experiments' cluster seed: 30 eV, 8 electrons


# %% Functions
def count_seeded_clusters(image: np.ndarray, fit: dict) -> int:
    """Clusters of a measured frame: 8-connected groups of pixels above 2 electrons holding a seed of 8 electrons or more.

    Column 0 and the hot columns are left out; NaN pixels count as empty.
    """
    pedestal = np.asarray(fit["pedestal_adu_per_row"], dtype=np.float64)[:, None]
    electrons = np.nan_to_num((np.asarray(image, dtype=np.float64) - pedestal) / fit["gain_adu_per_electron"])
    electrons[:, 0] = 0.0
    for column, _ in fit.get("hot_columns", []):
        electrons[:, int(column)] = 0.0
    count, labels = components(electrons >= 2.0)
    seeded = np.unique(labels[electrons >= SEED_ELECTRONS])
    return int(np.count_nonzero(seeded)) if count > 1 else 0


def detector_like(image: np.ndarray, gain_adu_per_electron: float | None = None, seed: int = 0) -> tuple[Detector, dict]:
    """The detector of a measured amplifier frame (h, w) ADU, and the fit it came from (JSON-ready, units in keys).

    The particle rate is set so that frames of the detector hold as many
    seeded clusters as the measured one: `CALIBRATION_FRAMES` frames are
    simulated (from `seed`) at the preset's rate and their seeded clusters
    counted. Raises `UserInputError` naming what failed (a frame too small
    or too uniform: "no 1-electron peak found"; a fit that does not converge).
    """
    fit = fit_frame(np.asarray(image, dtype=np.float64), gain_adu_per_electron).to_dict()
    fit["clusters_seeded"] = count_seeded_clusters(image, fit)
    trial = detector_from_fit(fit)
    rng = np.random.default_rng(seed)
    simulated = [simulate_skipper_frame(rng, trial, tuple(fit["shape_px"])).image for _ in range(CALIBRATION_FRAMES)]
    per_trial = np.mean([count_seeded_clusters(frame, trial_fit(trial, fit)) for frame in simulated])
    rate = trial.clusters_per_frame * fit["clusters_seeded"] / max(per_trial, 1.0)
    return detector_from_fit(fit, clusters_per_frame=rate), fit


def trial_fit(detector: Detector, fit: dict) -> dict:
    """The values `count_seeded_clusters` needs, for a frame simulated with `detector` (its true pedestal and gain)."""
    rows = int(fit["shape_px"][0])
    return {"pedestal_adu_per_row": detector.pedestal_profile(rows).tolist(),
            "gain_adu_per_electron": detector.gain_adu_per_electron, "hot_columns": fit.get("hot_columns", [])}
