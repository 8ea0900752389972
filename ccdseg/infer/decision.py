"""How the network's class probabilities become a class map: the decision rule written in a model's card.

The network's most likely class is the start. Four rules then use what a
network alone does poorly, each a setting of the card's `decision` (absent:
the rule is off, so older models keep their plain argmax):

* `hot_min_length_px`: hot pixels are long rows or columns; a hot spot
  shorter than this both ways is a compact deposit's peak: cluster, grown
  onto its halo above `matched_grow_sigma` sigmas (`hot_rules.compact_hot_clusters`);
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

Six more rules need the frame's own calibration (`measure.background`),
and the segmenter applies them frame by frame in this order:
`frame_defects` (`apply_frame_defects`), `hot_line_max_spread`
(`hot_rules.uniform_hot_lines`), `min_cluster_significance`
(`drop_faint_clusters`), `glow_cluster_significance` with
`glow_hot_line_sigma` and `glow_edge_significance` (`drop_glow_clusters`),
and on skipper frames `dark_current_false_alarm`
(`drop_dark_current_clusters`) and `edge_likelihood_ratio` with
`edge_probability`, `edge_bright_electrons` and `edge_bright_ratio`
(`grow_cluster_edges` onto `edge_candidates` and bright pixels).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage, stats

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.morphology import components, near, pixels
from ccdseg.infer.hot_rules import compact_hot_clusters, hot_line_pixels, uniform_hot_lines
from ccdseg.measure.matched_filter import matched_clusters

# %% Defaults
# the card's keys whose rules need the frame's calibration (the segmenter's `_calibration_rules`)
CALIBRATION_RULES = ("frame_defects", "hot_line_max_spread", "min_cluster_significance", "glow_cluster_significance")


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
    fallback = np.where(probabilities[..., GLOWING] > probabilities[..., BACKGROUND], np.uint8(GLOWING),
                        np.uint8(BACKGROUND))
    return ids, fallback


# %% Frame rules (on whole frames, after tiling)
def needs_calibration(decision: dict) -> bool:
    """Whether a card's `decision` sets a rule that needs the frame's own calibration (`CALIBRATION_RULES`)."""
    return any(decision.get(rule) for rule in CALIBRATION_RULES)


def edge_candidates(probabilities: np.ndarray, decision: dict | None) -> np.ndarray | None:
    """Pixels (..., h, w) bool the network gives at least `decision['edge_probability']` of being cluster.

    None when the card sets no such probability (clusters then grow onto any
    neighbour the charge test lets in, `grow_cluster_edges`).
    """
    threshold = (decision or {}).get("edge_probability")
    return None if threshold is None else probabilities[..., CLUSTER] >= float(threshold)


def clean_clusters(
    ids: np.ndarray, fallback: np.ndarray, glow_edge_max_px: int = 0, hot_halo_fraction: float | None = None
) -> np.ndarray:
    """Give cluster components their fallback class where a cleaning rule says they are not deposits, in place.

    ids, fallback : (..., h, w) uint8. The clusters (8-connected) of each
    frame are labelled once for both rules:

    * specks of at most `glow_edge_max_px` pixels touching glowing pixels
      (0: rule off);
    * clusters lying along hot pixels, at least `hot_halo_fraction` of their
      pixels next to one (None: rule off).

    Returns `ids`.
    """
    frames = ids.reshape(-1, *ids.shape[-2:])
    for frame, frame_fallback in zip(frames, fallback.reshape(frames.shape)):
        cluster = frame == CLUSTER
        count, labels = components(cluster)
        if count < 2:
            continue
        rows, cols = pixels(cluster)
        label_px = labels[rows, cols]
        sizes = np.bincount(label_px, minlength=count)
        removed = np.zeros(count, dtype=bool)
        glowing = frame == GLOWING
        if glow_edge_max_px >= 1 and glowing.any():
            touching = np.bincount(labels[near(glowing, 1)], minlength=count) > 0
            removed |= (sizes <= glow_edge_max_px) & touching
        hot = frame == HOT_PIXEL
        if hot_halo_fraction is not None and hot.any():
            beside = np.bincount(labels[near(hot, 1)], minlength=count)
            removed |= beside >= hot_halo_fraction * np.maximum(sizes, 1)
        removed[0] = False
        gone = removed[label_px]
        frame[rows[gone], cols[gone]] = frame_fallback[rows[gone], cols[gone]]
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
    (`measure.matched_filter.matched_clusters`, the matched-filter finder's own rule).
    """
    shape = (-1, *ids.shape[-2:])
    frames = ids.reshape(shape)
    blocked = np.stack([near((f == GLOWING) | (f == HOT_PIXEL), guard_px) | near(f == CLUSTER, 2) for f in frames])
    found = matched_clusters(significance.reshape(shape), z.reshape(shape), blocked, threshold, grow_sigma)
    frames[found] = CLUSTER
    return ids


def apply_frame_defects(ids: np.ndarray, defects: np.ndarray, z: np.ndarray, cluster_sigma: float,
                        guard_px: int = 2) -> np.ndarray:
    """The frame's own defects (its calibration, `measure.defects`) in place of the network's glowing and hot pixels.

    ids, defects : (h, w) uint8, the class map and the calibration's
    GLOWING / HOT_PIXEL pixels; z : (h, w) pixel values in noise sigmas.
    Glowing or hot pixels of the network that the calibration does not list
    are a compact bright deposit (cluster, where z >= `cluster_sigma`) or
    nothing (background; also within `guard_px` of a listed defect, its
    edge). The listed defects then take their class by `PRIORITY`: a hot
    pixel over a cluster, a cluster over glowing. Returns `ids`, in place.
    """
    unlisted = ((ids == GLOWING) | (ids == HOT_PIXEL)) & (defects == BACKGROUND)
    rows, cols = pixels(unlisted)
    bright = (z[rows, cols] >= cluster_sigma) & ~near(defects != BACKGROUND, guard_px)[rows, cols]
    ids[rows, cols] = np.where(bright, CLUSTER, BACKGROUND).astype(np.uint8)
    ids[defects == HOT_PIXEL] = HOT_PIXEL
    ids[(defects == GLOWING) & (ids != CLUSTER)] = GLOWING
    return ids


def _cluster_totals(ids: np.ndarray, *values: np.ndarray) -> tuple[tuple[np.ndarray, ...], list[np.ndarray]] | None:
    """The cluster pixels of `ids` (h, w) with their cluster labels, and each (h, w) array of `values` summed per cluster.

    Returns ((rows, cols, labels of those pixels), [per-label sums of each
    value, NaN as 0, index 0 the background]), or None when `ids` holds no cluster.
    """
    count, labels = components(ids == CLUSTER)
    if count < 2:
        return None
    rows, cols = pixels(ids == CLUSTER)
    label_px = labels[rows, cols]
    sums = [np.bincount(label_px, weights=np.nan_to_num(v[rows, cols]).astype(np.float64), minlength=count)
            for v in values]
    return (rows, cols, label_px), sums


def _drop_clusters(ids: np.ndarray, where: tuple[np.ndarray, ...], faint: np.ndarray,
                   given_to: int = BACKGROUND) -> np.ndarray:
    """Give the clusters marked `faint` (per label, from `_cluster_totals`) to class `given_to`, in place."""
    rows, cols, label_px = where
    faint[0] = False
    gone = faint[label_px]
    ids[rows[gone], cols[gone]] = given_to
    return ids


def drop_faint_clusters(ids: np.ndarray, z: np.ndarray, min_significance: float) -> np.ndarray:
    """Clusters whose summed charge the background alone could make become background, in place.

    ids : (h, w) uint8; z : (h, w) pixel values in noise sigmas of the
    background (on skipper frames its spread holds the dark current's
    Poisson spread). A cluster (8-connected) of n pixels is kept when
    sum(z) / sqrt(n) reaches `min_significance`: two or three dark-current
    electrons side by side do not, a deposit of tens of electrons does.
    """
    totals = _cluster_totals(ids, z, np.ones(ids.shape, np.float64))
    if totals is None:
        return ids
    where, (sums, sizes) = totals
    return _drop_clusters(ids, where, sums < min_significance * np.sqrt(np.maximum(sizes, 1)))


def drop_glow_clusters(ids: np.ndarray, z: np.ndarray, min_significance: float,
                       hot_line_sigma: float | None = None, edge_significance: float | None = None) -> np.ndarray:
    """Clusters inside glowing blocks that the glow alone could make become glowing, in place.

    ids : (h, w) uint8; z : (h, w) pixel values in noise sigmas of the
    background. A glowing block lifts every pixel in it, so a cluster that
    is a hole in it (enclosed by glowing and hot pixels) is measured against
    the glow around it: its level b is the median z of the glowing pixels
    next to it, and a cluster of n pixels is kept when the sum of z, less b
    on its enclosed pixels, over sqrt(n) reaches `min_significance`. A
    deposit on a glowing block stands above it; a patch of the block's own
    noise does not. With `hot_line_sigma`, a hot segment crossing the block
    is taken out first: a cluster's pixels at least that far above b that
    lie in one row or column continuing hot pixels become hot pixel, and the
    rest is tested without them. A cluster on a block's edge (touching its
    glowing pixels, none enclosed) may be a deposit beside the block, below
    the glow's level: with `edge_significance` it becomes glowing only when
    its level is the glow's, |sum of z - n b| / sqrt(n) below that; without,
    it is left to the other rules.
    """
    glowing = ids == GLOWING
    block = glowing | (ids == HOT_PIXEL)
    enclosed = ndimage.binary_fill_holes(block) & ~block
    tested = enclosed.any() or (edge_significance is not None and glowing.any())
    totals = _cluster_totals(ids, z, np.ones(ids.shape, np.float64), enclosed) if tested else None
    if totals is None:
        return ids
    (rows, cols, label_px), (sums, sizes, inside) = totals
    labels = np.zeros(ids.shape, np.int32)
    labels[rows, cols] = label_px
    ring = glowing & near(labels > 0, 1)
    neighbour = ndimage.maximum_filter(labels, size=3)[ring]
    level = np.zeros(sizes.size)
    touched = np.unique(neighbour[neighbour > 0])
    if touched.size:
        level[touched] = ndimage.median(np.nan_to_num(z[ring]), neighbour, touched)
    if hot_line_sigma is not None:
        values = np.nan_to_num(z[rows, cols]).astype(np.float64)
        bright = (values - level[label_px] >= hot_line_sigma) & enclosed[rows, cols] & (level[label_px] > 0)
        line = np.zeros(rows.size, dtype=bool)
        line[bright] = hot_line_pixels(ids, rows[bright], cols[bright], label_px[bright], sizes.size)
        ids[rows[line], cols[line]] = HOT_PIXEL
        keep = ~line
        sums -= np.bincount(label_px[line], weights=values[line], minlength=sizes.size)
        sizes = sizes - np.bincount(label_px[line], minlength=sizes.size)
        inside = inside - np.bincount(label_px[line], minlength=sizes.size)
        rows, cols, label_px = rows[keep], cols[keep], label_px[keep]
    faint = (inside > 0) & (sums - level * inside < min_significance * np.sqrt(np.maximum(sizes, 1)))
    if edge_significance is not None:
        edge = np.zeros(sizes.size, dtype=bool)
        edge[touched] = True
        faint |= edge & (inside == 0) & (np.abs(sums - level * sizes) < edge_significance * np.sqrt(np.maximum(sizes, 1)))
    return _drop_clusters(ids, (rows, cols, label_px), faint, GLOWING)


def drop_background_clusters(ids: np.ndarray, z: np.ndarray, decision: dict) -> np.ndarray:
    """The card's tests against the background, in place: `hot_line_max_spread` (with `hot_min_length_px`),
    `min_cluster_significance`, then `glow_cluster_significance`."""
    if decision.get("hot_line_max_spread") and decision.get("hot_min_length_px"):
        uniform_hot_lines(ids, z, int(decision["hot_min_length_px"]), float(decision["hot_line_max_spread"]))
    if decision.get("min_cluster_significance"):
        drop_faint_clusters(ids, z, float(decision["min_cluster_significance"]))
    if decision.get("glow_cluster_significance"):
        line, edge = decision.get("glow_hot_line_sigma"), decision.get("glow_edge_significance")
        drop_glow_clusters(ids, z, float(decision["glow_cluster_significance"]), None if line is None else float(line),
                           None if edge is None else float(edge))
    return ids


def drop_dark_current_clusters(ids: np.ndarray, electrons: np.ndarray, expected: np.ndarray,
                               false_alarm: float) -> np.ndarray:
    """Clusters that dark current alone makes with a chance above `false_alarm` become background, in place.

    ids : (h, w) uint8; electrons : (h, w) charge above the pedestal,
    electrons; expected : (h, w) the dark current (and glow) expected in
    each pixel, electrons. A cluster (8-connected) holding E electrons
    where its pixels expect mu is kept when P(Poisson(mu) >= E) is below
    `false_alarm`: the test of the experiment's seed, on the whole cluster.
    On skipper frames dark current is Poisson, far from Gaussian in its
    tail: a lone pixel of 3 electrons is one in 30,000 at 0.06 electron per
    pixel, so a frame holds several.
    """
    totals = _cluster_totals(ids, electrons, expected)
    if totals is None:
        return ids
    where, (charge, mean) = totals
    chance = stats.poisson.sf(np.ceil(np.round(charge, 1)) - 1, np.maximum(mean, 1e-9))
    return _drop_clusters(ids, where, chance >= false_alarm)


def grow_cluster_edges(ids: np.ndarray, electrons: np.ndarray, expected: np.ndarray, likelihood_ratio: float,
                       candidates: np.ndarray | None = None, bright: tuple[float, float] | None = None) -> np.ndarray:
    """Clusters grown by one pixel onto the edge pixels that hold one of their electrons, in place.

    ids : (h, w) uint8; electrons : (h, w) charge above the pedestal,
    electrons; expected : (h, w) the dark current (and glow) expected in
    each pixel, electrons; candidates : (h, w) bool, the pixels the network
    finds plausible (`edge_candidates`; None: all). A background candidate
    beside a cluster (8-connected) holding k electrons (rounded) is the
    cluster's when k >= 1 and k >= `likelihood_ratio` x expected:
    k / expected is how much likelier k is with one more electron (from the
    deposit) on the Poisson dark current than with the dark current alone.
    A track's and an X-ray's edge pixels hold one to three electrons, as
    bright as dark current, so the network alone leaves some out.
    bright : (electrons, ratio): an edge pixel holding at least that many
    electrons and `ratio` x expected is the cluster's whether or not the
    network finds it plausible (a bright pixel beside a track is its charge).
    """
    edge = near(ids == CLUSTER, 1) & (ids == BACKGROUND)
    rows, cols = pixels(edge)
    with np.errstate(invalid="ignore"):
        count = np.rint(electrons[rows, cols])
        likely = (count >= 1) & (count >= likelihood_ratio * expected[rows, cols])
        if candidates is not None:
            plausible = candidates[rows, cols]
            if bright is not None:
                plausible |= (count >= bright[0]) & (count >= bright[1] * expected[rows, cols])
            likely &= plausible
    ids[rows[likely], cols[likely]] = CLUSTER
    return ids


def refine_classes(
    ids: np.ndarray,
    fallback: np.ndarray,
    decision: dict,
    significance: np.ndarray | None,
    z: np.ndarray | None,
    units: Callable[[float], float] | None = None,
) -> np.ndarray:
    """Apply the card's frame rules, in order: compact hot spots, glow-edge specks, hot-pixel halos, matched-filter
    detections.

    ids, fallback : (..., h, w) uint8 from `decide_classes` over whole
    frames; significance, z : (..., h, w) in noise sigmas (None: the matched
    rule is skipped), or both through one increasing function `units` (the
    network input's stretch, `model.normalisation.stretch`): the matched rule only
    compares them with its thresholds, so it compares with `units(threshold)`.
    Returns `ids`, changed in place.
    """
    units = units or float
    if decision.get("hot_min_length_px"):
        compact_hot_clusters(ids, int(decision["hot_min_length_px"]), z,
                             float(units(decision.get("matched_grow_sigma", 1.5))))
    fraction = decision.get("hot_halo_fraction")
    clean_clusters(ids, fallback, int(decision.get("glow_edge_max_px", 0)), None if fraction is None else float(fraction))
    if decision.get("matched_threshold") is not None and significance is not None:
        add_matched_detections(ids, significance, z, float(units(decision["matched_threshold"])),
                               int(decision.get("matched_guard_px", 3)),
                               float(units(decision.get("matched_grow_sigma", 1.5))))
    return ids
