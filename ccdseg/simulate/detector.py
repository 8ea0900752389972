"""The physics of a skipper-CCD amplifier frame (DAMIC-M), in electrons, with its presets and its range.

Skipper CCDs read every pixel many times and average: the readout noise
falls below one electron, so single electrons are counted. A frame in ADU is

    pedestal(row) + gain x electrons + Gaussian readout noise,

where the electrons are Poisson dark current (rising with the row: rows read
later waited longer), the excess of the first column and of hot columns,
one-row serial-register streaks, amplifier glow near the readout corner,
and the particles' deposits. `Detector` holds all of it with units in its
names; `DAMIC_M` is the preset measured on a real DAMIC-M frame
(`../shared/REFERENCE.md`), `random_detector` draws from the whole range, and
`Detector.from_fit` takes the measurement of a real frame
(`measure.calibration.fit_frame`).

The 2020 DAMIC kind of frame is `parameters.SimulationParameters`; `PRESETS`
names both, and `draw_physics` draws from one regime or both.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from ccdseg.core.errors import UserInputError
from ccdseg.simulate.parameters import SimulationParameters, random_parameters

# %% Defaults
REFERENCE_ROWS, REFERENCE_COLUMNS = 320, 640  # counts of objects are per frame of this size (one DAMIC-M amplifier)
DEPOSIT_MIXTURE = {"x-ray": 0.45, "low-energy": 0.17, "electron": 0.30, "muon": 0.05, "alpha": 0.03}
REGIMES = ("damic-2020", "damic-m", "both")


@dataclass(frozen=True)
class Detector:
    """Physics of one skipper-CCD amplifier frame; the defaults are the DAMIC-M preset.

    Counts are per frame of `REFERENCE_ROWS` x `REFERENCE_COLUMNS` and scale
    with the frame's area (particles), width (hot columns) or height (serial
    streaks); ranges are (low, high), drawn per object.
    """

    name: str = "damic-m"
    gain_adu_per_electron: float = 1.3
    noise_electrons: float = 0.16
    pedestal_adu: float = -38.0  # first row
    pedestal_drift_adu: float = 1.3  # last row minus first row, linear
    pedestal_row_jitter_adu: float = 0.0  # row-to-row Gaussian jitter of the pedestal
    dark_current_electrons_per_pixel: float = 0.8  # mean over the frame, spurious charge included
    dark_current_readout_share: float = 0.5  # share of the mean accumulated during readout: 0 flat .. 1 from 0 to 2x
    first_column_excess_electrons: float = 3.0
    amplifier_glow_probability: float = 0.3
    amplifier_glow_electrons: float = 8.0  # per pixel at the readout corner (row 0, column 0)
    amplifier_glow_length_px: float = 20.0  # e-folding length of the glow along rows and columns
    hot_columns_per_frame: float = 2.0
    hot_column_electrons: tuple[float, float] = (1.0, 10.0)  # excess per pixel, drawn log-uniform
    serial_streaks_per_frame: float = 2.0
    serial_streak_electrons: tuple[float, float] = (1.0, 5.0)  # per pixel
    serial_streak_length_px: tuple[int, int] = (20, 400)
    serial_cti: float = 3e-4  # share of a pixel's charge left in the next pixel read (the trail after bright clusters)
    clusters_per_frame: float = 130.0
    deposit_mixture: dict = field(default_factory=lambda: dict(DEPOSIT_MIXTURE))
    cluster_threshold_electrons: float = 1.0  # deposited charge from which a pixel is truth class 'cluster'
    pedestal_adu_per_row: tuple[float, ...] = ()  # measured per row (overrides pedestal and drift)
    dark_current_per_row: tuple[float, ...] = ()  # measured per row, electrons per pixel (overrides mean and share)
    hot_columns: tuple[tuple[int, float], ...] = ()  # measured (column, excess electrons per pixel); none drawn then

    @property
    def noise_adu(self) -> float:
        """Readout noise of one pixel, ADU."""
        return self.noise_electrons * self.gain_adu_per_electron

    @property
    def cluster_threshold_adu(self) -> float:
        """Deposited charge (ADU) from which a pixel is truth class 'cluster'."""
        return self.cluster_threshold_electrons * self.gain_adu_per_electron

    def pedestal_profile(self, height: int) -> np.ndarray:
        """(height,) float64 pedestal of each row, ADU (without jitter)."""
        if self.pedestal_adu_per_row:
            return _resample(np.asarray(self.pedestal_adu_per_row, dtype=np.float64), height)
        return self.pedestal_adu + self.pedestal_drift_adu * np.linspace(0.0, 1.0, height)

    def dark_current_profile(self, height: int) -> np.ndarray:
        """(height,) float64 mean dark current of each row, electrons per pixel."""
        if self.dark_current_per_row:
            return np.clip(_resample(np.asarray(self.dark_current_per_row, dtype=np.float64), height), 0.0, None)
        share = float(np.clip(self.dark_current_readout_share, 0.0, 1.0))
        waited = 2.0 * (np.arange(height) + 0.5) / height  # mean 1: rows read later waited longer
        return self.dark_current_electrons_per_pixel * ((1.0 - share) + share * waited)

    def to_dict(self) -> dict:
        """JSON-ready description, units in the keys."""
        return {key: (list(value) if isinstance(value, tuple) else value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> Detector:
        """A detector from `to_dict` output or a fit (`measure.calibration`); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        kept = {}
        for key, value in values.items():
            if key in known:
                kept[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value) if isinstance(value, list) else value
        detector = cls(**kept)
        check_detector(detector)
        return detector


def _resample(profile: np.ndarray, height: int) -> np.ndarray:
    """A per-row profile stretched or shrunk to `height` rows (linear interpolation)."""
    if len(profile) == height:
        return profile
    return np.interp(np.linspace(0.0, len(profile) - 1.0, height), np.arange(len(profile)), profile)


def check_detector(detector: Detector) -> None:
    """Raise `UserInputError` naming the first impossible value (zero gain, negative noise or dark current)."""
    if not detector.gain_adu_per_electron > 0:
        raise UserInputError(f"gain must be positive, not {detector.gain_adu_per_electron} ADU per electron")
    for name in ("noise_electrons", "dark_current_electrons_per_pixel", "first_column_excess_electrons",
                 "clusters_per_frame", "serial_cti"):
        value = getattr(detector, name)
        if not (math.isfinite(value) and value >= 0):
            raise UserInputError(f"{name} must be 0 or more, not {value}")


def detector_from_fit(fit: dict, clusters_per_frame: float | None = None) -> Detector:
    """A detector that simulates frames like a measured one (`measure.calibration.FrameFit.to_dict()`).

    The measured per-row pedestal, per-band dark current (straight lines
    between band centres, continued past the outer ones), gain, noise, first-column excess, hot columns and
    amplifier glow are used as they are; objects the fit does not measure keep the DAMIC-M preset's
    values, and the particle rate is `clusters_per_frame` when given.
    """
    bands = np.asarray(fit.get("dark_current_row_bands", []), dtype=np.float64).reshape(-1, 3)
    rows = int(fit["shape_px"][0])
    if len(bands) > 1:
        centres, rows_at = 0.5 * (bands[:, 0] + bands[:, 1]), np.arange(rows) + 0.5
        dark = np.interp(rows_at, centres, bands[:, 2])
        for end, (a, b) in (((rows_at < centres[0]), (0, 1)), ((rows_at > centres[-1]), (-2, -1))):
            slope = (bands[b, 2] - bands[a, 2]) / (centres[b] - centres[a])  # straight on past the outer band centres
            dark[end] = np.maximum(bands[b, 2] + slope * (rows_at[end] - centres[b]), 0.0)
    elif len(bands):
        dark = np.full(rows, float(bands[0, 2]))
    else:
        dark = np.full(rows, float(fit["dark_current_electrons_per_pixel"]))
    values = {
        "name": "fitted",
        "gain_adu_per_electron": float(fit["gain_adu_per_electron"]),
        "noise_electrons": float(fit["noise_electrons"]),
        "pedestal_adu_per_row": tuple(float(v) for v in fit["pedestal_adu_per_row"]),
        "dark_current_per_row": tuple(float(v) for v in dark),
        "dark_current_electrons_per_pixel": float(np.mean(dark)),
        "first_column_excess_electrons": max(float(fit.get("first_column_excess_electrons", 0.0)), 0.0),
        "hot_columns": tuple((int(c), float(e)) for c, e in fit.get("hot_columns", [])),
        "amplifier_glow_probability": 1.0 if fit.get("amplifier_glow_electrons", 0.0) > 0 else 0.0,
        "amplifier_glow_electrons": float(fit.get("amplifier_glow_electrons", 0.0)),
        "amplifier_glow_length_px": max(float(fit.get("amplifier_glow_length_px", 0.0)), 1.0),
    }
    if clusters_per_frame is not None:
        values["clusters_per_frame"] = float(clusters_per_frame)
    detector = replace(Detector(), **values)
    check_detector(detector)
    return detector


# %% Presets and ranges
DAMIC_M = Detector()
PRESETS = {"damic-2020": SimulationParameters(), "damic-m": DAMIC_M}


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def random_detector(rng: np.random.Generator) -> Detector:
    """Draw skipper-CCD physics from the whole DAMIC-M range, for robust training.

    Gain 1.2 to 1.4 ADU per electron, noise 0.12 to 0.3 electron, mean dark
    current 0.05 to 2 electrons per pixel (log-uniform) of which 30 to 95 %
    accumulate during readout, pedestal -45 to -35 ADU drifting -2 to +2 ADU
    over the frame, first-column excess 1.5 to 4 electrons, 0 to 5 hot
    columns, 0 to 5 serial streaks, serial CTI 1e-5 to 2e-3, 20 to 250
    particles per amplifier frame with a varied mixture.
    """
    mixture = rng.dirichlet(np.array(list(DEPOSIT_MIXTURE.values())) * 20.0)
    return Detector(
        name="damic-m (varied)",
        gain_adu_per_electron=float(rng.uniform(1.2, 1.4)),
        noise_electrons=float(rng.uniform(0.12, 0.3)),
        pedestal_adu=float(rng.uniform(-45.0, -35.0)),
        pedestal_drift_adu=float(rng.uniform(-2.0, 2.0)),
        pedestal_row_jitter_adu=float(rng.uniform(0.0, 0.03)),
        dark_current_electrons_per_pixel=_log_uniform(rng, 0.05, 2.0),
        dark_current_readout_share=float(rng.uniform(0.3, 0.95)),
        first_column_excess_electrons=float(rng.uniform(1.5, 4.0)),
        amplifier_glow_probability=0.4,
        amplifier_glow_electrons=_log_uniform(rng, 2.0, 30.0),
        amplifier_glow_length_px=float(rng.uniform(8.0, 60.0)),
        hot_columns_per_frame=float(rng.uniform(0.0, 5.0)),
        serial_streaks_per_frame=float(rng.uniform(0.0, 5.0)),
        serial_cti=_log_uniform(rng, 1e-5, 2e-3),
        clusters_per_frame=_log_uniform(rng, 20.0, 250.0),
        deposit_mixture=dict(zip(DEPOSIT_MIXTURE, (float(m) for m in mixture))),
    )


def draw_physics(regime: str, rng: np.random.Generator) -> SimulationParameters | Detector:
    """Varied physics of one frame: 'damic-2020' (`random_parameters`), 'damic-m' (`random_detector`) or 'both' (half each)."""
    if regime not in REGIMES:
        raise UserInputError(f"detector {regime!r} is not one of {', '.join(REGIMES)}")
    if regime == "both":
        regime = "damic-m" if rng.uniform() < 0.5 else "damic-2020"
    return random_detector(rng) if regime == "damic-m" else random_parameters(rng)
