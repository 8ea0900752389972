"""How the network's class probabilities become a class map: the decision rule written in a model's card.

The network's most likely class is the start. Three rules then use what a
network alone does poorly, each a setting of the card's `decision` (absent:
the rule is off, so older models keep their plain argmax):

* `glow_edge_max_px`: cluster specks of at most this many pixels touching
  glowing pixels are noise on the edge of an amplifier-glow block;
* `hot_halo_fraction`: a cluster whose pixels lie, at least this fraction
  of them, next to hot pixels is the halo a hot segment leaves in the
  matched-filter channel, not a deposit;
* `matched_threshold`: the matched filter is the optimal detector of a faint
  point deposit in white noise; a point whose matched-filter significance
  reaches this many sigmas, away from defects (`matched_guard_px`) and from
  the clusters already found, becomes a cluster, grown onto its neighbours
  above `matched_grow_sigma` noise sigmas. This needs a model whose input
  holds the matched-filter channel.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from finders import matched_clusters

# %% Settings - edit here when running top to bottom in Spyder
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


# %% Pixel decision (per tile)
def decide_classes(probabilities: np.ndarray, decision: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Class ids (..., h, w) uint8 from probabilities (..., h, w, N_CLASSES), and each pixel's fallback class.

    The most likely class, except that a background pixel whose cluster
    probability reaches `decision['cluster_probability']` is cluster. The
    fallback (glowing or background, whichever is likelier) is what the
    cleaning rules give back to a cluster they remove.
    """
    ids = np.argmax(probabilities, axis=-1).astype(np.uint8)
    threshold = (decision or {}).get("cluster_probability")
    if threshold is not None:
        ids[(probabilities[..., CLUSTER] >= threshold) & (ids == BACKGROUND)] = CLUSTER
    fallback = np.where(probabilities[..., GLOWING] > probabilities[..., BACKGROUND], GLOWING, BACKGROUND)
    return ids, fallback.astype(np.uint8)


# %% Frame rules (on whole frames, after tiling)
def _near(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """Pixels within `radius_px` (chessboard distance) of `mask`, (h, w) bool; separable, fast on big frames."""
    return ndimage.maximum_filter(mask.view(np.uint8), size=2 * radius_px + 1) > 0


def _cluster_components(frame: np.ndarray) -> tuple[np.ndarray, int]:
    return ndimage.label(frame == CLUSTER, structure=EIGHT_NEIGHBOURS)


def _give_back(frame: np.ndarray, fallback: np.ndarray, labels: np.ndarray, removed: np.ndarray) -> None:
    """Set the components flagged in `removed` (n + 1,) bool, index 0 the non-cluster pixels, to their fallback."""
    removed = removed.copy()
    removed[0] = False
    mask = removed[labels]
    frame[mask] = fallback[mask]


def clean_glow_edges(ids: np.ndarray, fallback: np.ndarray, max_px: int) -> np.ndarray:
    """Give cluster specks of at most `max_px` pixels touching glowing pixels their fallback class, in place.

    ids, fallback : (..., h, w) uint8. Returns `ids`.
    """
    if max_px < 1:
        return ids
    for frame, frame_fallback in zip(ids.reshape(-1, *ids.shape[-2:]), fallback.reshape(-1, *ids.shape[-2:])):
        labels, n = _cluster_components(frame)
        if n:
            sizes = np.bincount(labels.ravel(), minlength=n + 1)
            touching = np.bincount(labels[_near(frame == GLOWING, 1)], minlength=n + 1) > 0
            _give_back(frame, frame_fallback, labels, (sizes <= max_px) & touching)
    return ids


def clean_hot_halos(ids: np.ndarray, fallback: np.ndarray, fraction: float) -> np.ndarray:
    """Give clusters lying along hot pixels (at least `fraction` of their pixels next to one) their fallback, in place."""
    for frame, frame_fallback in zip(ids.reshape(-1, *ids.shape[-2:]), fallback.reshape(-1, *ids.shape[-2:])):
        labels, n = _cluster_components(frame)
        if n and (frame == HOT_PIXEL).any():
            sizes = np.bincount(labels.ravel(), minlength=n + 1)
            beside = np.bincount(labels[_near(frame == HOT_PIXEL, 1)], minlength=n + 1)
            _give_back(frame, frame_fallback, labels, beside >= fraction * np.maximum(sizes, 1))
    return ids


def add_matched_detections(
    ids: np.ndarray, significance: np.ndarray, z: np.ndarray, threshold: float, guard_px: int, grow_sigma: float
) -> np.ndarray:
    """Make clusters of matched-filter detections the class map misses, in place.

    ids : (..., h, w) class ids; significance, z : (..., h, w) matched-filter
    significance and pixel value, both in noise sigmas. A detection is a
    local maximum of `significance` at or above `threshold`, at least
    `guard_px` from glowing and hot pixels and 2 px from clusters already
    there; it is grown onto 8-connected pixels with z >= `grow_sigma`
    (`finders.matched_clusters`, the matched-filter finder's own rule).
    """
    shape = (-1, *ids.shape[-2:])
    frames = ids.reshape(shape)
    blocked = np.stack([_near((f == GLOWING) | (f == HOT_PIXEL), guard_px) | _near(f == CLUSTER, 2) for f in frames])
    found = matched_clusters(significance.reshape(shape), z.reshape(shape), blocked, threshold, grow_sigma)
    frames[found] = CLUSTER
    return ids


def refine_classes(
    ids: np.ndarray, fallback: np.ndarray, decision: dict, significance: np.ndarray | None, z: np.ndarray | None
) -> np.ndarray:
    """Apply the card's frame rules, in order: glow-edge specks, hot-pixel halos, matched-filter detections.

    ids, fallback : (..., h, w) uint8 from `decide_classes` over whole
    frames; significance, z : (..., h, w) noise sigmas (None: the matched
    rule is skipped). Returns `ids`, changed in place.
    """
    clean_glow_edges(ids, fallback, int(decision.get("glow_edge_max_px", 0)))
    if decision.get("hot_halo_fraction") is not None:
        clean_hot_halos(ids, fallback, float(decision["hot_halo_fraction"]))
    if decision.get("matched_threshold") is not None and significance is not None:
        add_matched_detections(ids, significance, z, float(decision["matched_threshold"]),
                               int(decision.get("matched_guard_px", 3)), float(decision.get("matched_grow_sigma", 1.5)))
    return ids
