"""Decision rules from what a hot pixel is: a row or column of pixels at one level, never a compact spot.

Hot pixels of a CCD (and of our 2020 simulator, 10 px or longer) are rows
and columns of pixels holding the same excess. Three rules of the card's
`decision` (`ccdseg/infer/decision.py` applies them) use that:

* `compact_hot_clusters`: a spot shorter than `hot_min_length_px` both ways
  is a compact deposit's peak, which a network may call hot: cluster;
* `uniform_hot_lines`: a cluster whose bright pixels are one row or column
  of at least `hot_min_length_px`, as level as the noise allows
  (`hot_line_max_spread`), is a hot segment fainter or brighter than the
  network learned: hot pixel;
* `hot_line_pixels`: the pixels of a cluster that continue a hot segment
  (the glow test takes them out of clusters on a glowing block).
"""
from __future__ import annotations

import cv2
import numpy as np

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.morphology import components, near, pixels
from ccdseg.measure.matched_filter import seeded_components

# %% Defaults
LINE_BRIGHT_SIGMA = 5.0  # a hot segment's pixels: at least this many noise sigmas


# %% Rules
def compact_hot_clusters(ids: np.ndarray, min_length_px: int, z: np.ndarray | None = None,
                         grow_sigma: float = 1.5) -> np.ndarray:
    """Make the hot pixels of compact bright spots clusters, in place.

    ids : (..., h, w) uint8; z : (..., h, w) pixel values in noise sigmas
    (None: no growth). A hot segment is a row or column of pixels, which the
    network may break into hot and cluster pieces; a spot of hot and cluster
    pixels (8-connected) shorter than `min_length_px` in rows and in columns,
    not a line of 3 or more one pixel thick, away from glowing pixels and
    from the frame's edges (where a segment is cut short), is a deposit's
    peak: its hot pixels become cluster, grown onto 8-connected background
    pixels with z >= `grow_sigma` (its halo). Returns `ids`.
    """
    frames = ids.reshape(-1, *ids.shape[-2:])
    compact = np.zeros(frames.shape, dtype=bool)
    for frame, frame_compact in zip(frames, compact):
        hot = frame == HOT_PIXEL
        if not hot.any():
            continue
        spots = hot | (frame == CLUSTER)
        count, labels, box, _ = cv2.connectedComponentsWithStats(spots.astype(np.uint8), connectivity=8)
        left, top = box[:, cv2.CC_STAT_LEFT], box[:, cv2.CC_STAT_TOP]
        width, height = box[:, cv2.CC_STAT_WIDTH], box[:, cv2.CC_STAT_HEIGHT]
        inside = (left > 0) & (top > 0) & (left + width < frame.shape[1]) & (top + height < frame.shape[0])
        line = (np.minimum(width, height) == 1) & (np.maximum(width, height) >= 3)
        short = (width < min_length_px) & (height < min_length_px) & inside & ~line
        short &= np.bincount(labels[hot], minlength=count) > 0
        short &= np.bincount(labels[near(frame == GLOWING, 1) & spots], minlength=count) == 0
        short[0] = False
        frame_compact[:] = short[labels] & hot
    if not compact.any():
        return ids
    if z is not None:
        grow = (z.reshape(frames.shape) >= grow_sigma) & ((frames == BACKGROUND) | (frames == CLUSTER))
        compact = seeded_components(grow, compact)
    frames[compact] = CLUSTER
    return ids


def _one_line(rows: np.ndarray, cols: np.ndarray, label_px: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per label (count,) bool: whether its pixels (rows, cols, labels `label_px`) lie in one column, and in one row."""
    same = []
    for along in (cols, rows):
        low, high = np.full(count, np.iinfo(np.int64).max), np.full(count, np.iinfo(np.int64).min)
        np.minimum.at(low, label_px, along)
        np.maximum.at(high, label_px, along)
        same.append(low == high)
    return same[0], same[1]


def hot_line_pixels(ids: np.ndarray, rows: np.ndarray, cols: np.ndarray, label_px: np.ndarray,
                     count: int) -> np.ndarray:
    """Which of the pixels (rows, cols) of clusters `label_px` continue a hot segment: (k,) bool.

    A cluster's pixels continue a segment when they all lie in one column
    with a hot pixel above or below one of them, or in one row with a hot
    pixel left or right of one of them.
    """
    height, width = ids.shape
    hot = ids == HOT_PIXEL
    lines = np.zeros(count, dtype=bool)
    for same, (step_r, step_c) in zip(_one_line(rows, cols, label_px, count), ((1, 0), (0, 1))):
        touch = np.zeros(rows.size, dtype=bool)
        for sign in (-1, 1):
            r, c = rows + sign * step_r, cols + sign * step_c
            valid = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            touch[valid] |= hot[r[valid], c[valid]]
        touched = np.bincount(label_px, weights=touch, minlength=count) > 0
        lines |= same & touched
    return lines[label_px]


def uniform_hot_lines(ids: np.ndarray, z: np.ndarray, min_length_px: int, max_spread: float,
                      bright_sigma: float = LINE_BRIGHT_SIGMA) -> np.ndarray:
    """Clusters that are a hot segment and its halo become hot pixel (the segment) and background, in place.

    ids : (h, w) uint8; z : (h, w) pixel values in noise sigmas. A cluster
    is a segment when its pixels of at least `bright_sigma` are one row or
    one column of at least `min_length_px` pixels whose values spread by at
    most `max_spread` sigmas (a hot segment holds one level; a track's
    charge fluctuates from pixel to pixel, and a straight track spreads
    over two columns or rows). Its other pixels are the halo the network
    added around it.
    """
    count, labels = components(ids == CLUSTER)
    if count < 2:
        return ids
    rows, cols = pixels(ids == CLUSTER)
    label_px = labels[rows, cols]
    values = np.nan_to_num(z[rows, cols]).astype(np.float64)
    bright = values >= bright_sigma
    number = np.bincount(label_px[bright], minlength=count)
    mean = np.bincount(label_px[bright], weights=values[bright], minlength=count) / np.maximum(number, 1)
    square = np.bincount(label_px[bright], weights=values[bright] ** 2, minlength=count) / np.maximum(number, 1)
    column, row = _one_line(rows[bright], cols[bright], label_px[bright], count)
    segment = (column | row) & (number >= min_length_px) & (np.sqrt(np.maximum(square - mean**2, 0.0)) <= max_spread)
    segment[0] = False
    chosen = segment[label_px]
    ids[rows[chosen & bright], cols[chosen & bright]] = HOT_PIXEL
    ids[rows[chosen & ~bright], cols[chosen & ~bright]] = BACKGROUND
    return ids
