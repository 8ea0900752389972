"""The physics of a simulated frame of the 2020 DAMIC kind: defaults (the original's values) and varied draws.

Ranges are (low, high) and drawn per frame; object counts are per
256 x 256 pixels and scale with the frame's area.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

# %% Defaults
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
