"""Labels from pixel values: the original's threshold rule, with bands derived from the simulation's own parameters.

A pixel's value above the pedestal is compared with bands around the
simulated glowing and hot-pixel intensities and the readout noise. It needs
no model; it fits frames simulated with the same parameters, not a real
detector with another pedestal, noise or gain.
"""
from __future__ import annotations

import numpy as np

from ccdseg.core.checks import get_monochrome
from ccdseg.core.classes import CLUSTER, GLOWING, HOT_PIXEL, to_one_hot
from ccdseg.measure.background import robust_background
from ccdseg.simulate.parameters import SimulationParameters

# %% Defaults
BAND_SIGMA = 3.0
CLUSTER_THRESHOLD_SIGMA = 3.0


# %% Functions
def get_class(
    images: np.ndarray,
    params: SimulationParameters | None = None,
    cluster_threshold_sigma: float = CLUSTER_THRESHOLD_SIGMA,
    band_sigma: float = BAND_SIGMA,
    estimate_background: bool = False,
) -> np.ndarray:
    """Label pixels by their value, the original's threshold rule.

    Parameters
    ----------
    images : (..., h, w) ADU
    params : simulation parameters giving pedestal, noise sigma, glowing and
        hot-pixel intensities (default: the original's values).
    cluster_threshold_sigma : a pixel above pedestal + this many noise sigmas,
        and outside the glowing and hot-pixel bands, is a cluster.
    band_sigma : half-width of the glowing and hot-pixel bands, in noise sigmas.
    estimate_background : take pedestal (median) and noise (1.4826 x MAD) from
        each frame instead of from `params`.

    Returns
    -------
    (..., h, w) uint8 class ids. On noise-free frames (noise 0) this is the
    exact truth wherever no cluster charge happens to fall inside a band.
    """
    params = params or SimulationParameters()
    images = get_monochrome(images)
    if estimate_background:
        pedestal, sigma = robust_background(images)
    else:
        pedestal = np.float32(params.pedestal_adu)
        sigma = np.float32(params.noise_sigma_adu)
    excess = images - pedestal
    tol = band_sigma * sigma
    glow_lo, glow_hi = params.glowing_adu
    hot = params.hot_pixel_adu
    labels = np.zeros(images.shape, dtype=np.uint8)
    above = (excess > 0) & (excess >= np.float32(cluster_threshold_sigma) * sigma)
    labels[above] = CLUSTER
    labels[(excess >= glow_lo - tol) & (excess <= glow_hi + tol)] = GLOWING
    hot_band = (np.abs(excess - hot) <= tol) | (
        (excess >= hot + glow_lo - tol) & (excess <= hot + glow_hi + tol)
    )
    labels[hot_band] = HOT_PIXEL
    return labels


def get_mask(images: np.ndarray, params: SimulationParameters | None = None, **kwargs) -> np.ndarray:
    """Threshold-label images (..., h, w) ADU -> one-hot (..., h, w, 4) float32."""
    return to_one_hot(get_class(images, params, **kwargs))
