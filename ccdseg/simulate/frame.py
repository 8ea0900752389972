"""One simulated CCD frame of the 2020 DAMIC kind, built from separate physical components, with its exact truth.

A frame is pedestal + readout noise + dark current + glowing columns + hot
pixels + clusters, converted to ADU. Each component is kept apart while the
frame is built, so the exact truth class of every pixel is known:

* cluster: deposited cluster charge >= `cluster_threshold_sigma` x readout noise,
* priority where objects overlap: hot pixel > cluster > glowing > background.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.simulate.cluster_library import load_cluster_library
from ccdseg.simulate.components import (
    charge_transfer_losses,
    dark_current,
    glowing_columns,
    hot_pixel_segments,
    paste_clusters,
    reduce_image,
)
from ccdseg.simulate.parameters import LAYOUTS, SimulationParameters


@dataclass
class Frame:
    """One simulated frame and its exact truth.

    image : (h, w) float32 ADU; truth : (h, w) uint8 class ids;
    cluster_adu : (h, w) float32 deposited cluster charge in ADU;
    params : its physics (`SimulationParameters`, or a skipper `detector.Detector`);
    deposit_ids : (h, w) int32, the particle each pixel's charge came from
        (1.., 0: none), and deposit_kinds its kinds: skipper frames only.
    """

    image: np.ndarray
    truth: np.ndarray
    cluster_adu: np.ndarray
    params: object = field(default_factory=SimulationParameters)
    deposit_ids: np.ndarray | None = None
    deposit_kinds: tuple[str, ...] = ()


# %% The frame
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
