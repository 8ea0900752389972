"""Fast whole-frame operations on pixel masks: neighbourhoods, 8-connected components, pixel lists (OpenCV).

A 4k x 4k frame has 16.8 M pixels, its clusters a few percent of them. These
helpers keep every pass over the whole frame in OpenCV's C++ (several times
faster than the scipy.ndimage equivalents there); the rest of the work is
done on the short lists of pixels they return.
"""
from __future__ import annotations

import cv2
import numpy as np


# %% Functions
def near(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """Pixels within `radius_px` (chessboard distance) of `mask` (h, w), (h, w) bool (an OpenCV dilation)."""
    if radius_px < 1:
        return mask.copy()
    kernel = np.ones((2 * radius_px + 1, 2 * radius_px + 1), dtype=np.uint8)
    return cv2.dilate(np.ascontiguousarray(mask, dtype=np.uint8), kernel) > 0


def components(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """8-connected components of `mask` (h, w) bool: (count including the background label 0, (h, w) int32 labels).

    Labels run 1..count-1 in no particular order (OpenCV's parallel
    algorithm); number them with `pixels` and `raster_numbers` where the order matters.
    """
    count, labels = cv2.connectedComponentsWithAlgorithm(np.ascontiguousarray(mask, dtype=np.uint8), 8, cv2.CV_32S,
                                                         cv2.CCL_SPAGHETTI)
    return count, labels


def pixels(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (int64) of the True pixels of `mask` (h, w), in raster order, as `np.nonzero` gives them."""
    found = cv2.findNonZero(np.ascontiguousarray(mask, dtype=np.uint8))
    if found is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    found = found.reshape(-1, 2)
    return found[:, 1].astype(np.int64), found[:, 0].astype(np.int64)


def raster_numbers(label_px: np.ndarray, count: int) -> np.ndarray:
    """(count,) int64 new number of each label, 1.. in raster order of the label's first pixel (0 stays 0).

    label_px : the labels of a component image's foreground pixels, in
    raster order (`pixels`). So the numbering is the one `scipy.ndimage.label` gives.
    """
    present, first = np.unique(label_px, return_index=True)
    number = np.zeros(count, dtype=np.int64)
    number[present[np.argsort(first)]] = np.arange(1, len(present) + 1)
    return number
