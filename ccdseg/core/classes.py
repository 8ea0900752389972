"""The four pixel classes: ids, names, colours and overlap priority, defined once.

Every other module imports these. A pixel is background (pedestal and
readout noise only), glowing (amplifier glow), hot pixel (a defective row or
column segment) or cluster (charge deposited by a particle).
"""
from __future__ import annotations

import numpy as np

from ccdseg.core.errors import UserInputError

# %% Class definitions (the one place they live)
BACKGROUND, GLOWING, HOT_PIXEL, CLUSTER = 0, 1, 2, 3
CLASS_IDS = (BACKGROUND, GLOWING, HOT_PIXEL, CLUSTER)
CLASS_NAMES = ("background", "glowing", "hot pixel", "cluster")
N_CLASSES = len(CLASS_NAMES)
CLASS_COLOURS = np.array(
    [(0.0, 0.0, 0.0), (0.35, 1.0, 0.25), (0.0, 0.5, 1.0), (1.0, 0.2, 0.2)],
    dtype=np.float32,
)
# where objects overlap, the later class wins: hot pixel > cluster > glowing > background
PRIORITY = (BACKGROUND, GLOWING, CLUSTER, HOT_PIXEL)


# %% Functions
def priority_rank() -> np.ndarray:
    """(N_CLASSES,) uint8: rank of each class id in `PRIORITY` (higher wins)."""
    rank = np.empty(N_CLASSES, dtype=np.uint8)
    rank[list(PRIORITY)] = np.arange(N_CLASSES, dtype=np.uint8)
    return rank


def class_id(name: str | int) -> int:
    """Return the class id of a class name ('hot pixel', 'hot_pixel', 'HOT') or id."""
    if isinstance(name, (int, np.integer)):
        if int(name) in CLASS_IDS:
            return int(name)
        raise UserInputError(f"class id {name} is not one of {list(CLASS_IDS)}")
    key = str(name).strip().lower().replace("_", " ").replace("-", " ")
    if key.isdigit():
        return class_id(int(key))
    singular = key.removesuffix("s")
    for cid, cname in enumerate(CLASS_NAMES):
        if {key, singular} & {cname, cname.replace(" ", ""), cname.split()[0]}:
            return cid
    raise UserInputError(f"unknown class {name!r}; use one of {', '.join(CLASS_NAMES)}")


def to_one_hot(class_ids: np.ndarray) -> np.ndarray:
    """(..., h, w) uint8 class ids -> (..., h, w, N_CLASSES) float32 one-hot."""
    return np.eye(N_CLASSES, dtype=np.float32)[np.asarray(class_ids, dtype=np.intp)]


def get_max_in_mask(mask: np.ndarray) -> np.ndarray:
    """One-hot or probabilities (..., h, w, N_CLASSES) -> (..., h, w) uint8 class ids."""
    return np.argmax(mask, axis=-1).astype(np.uint8)


def as_ids(labels: np.ndarray) -> np.ndarray:
    """Class ids (..., h, w) from class ids or from one-hot / probabilities (..., h, w, N_CLASSES)."""
    labels = np.asarray(labels)
    if labels.ndim >= 2 and labels.shape[-1] == N_CLASSES and np.issubdtype(labels.dtype, np.floating):
        return get_max_in_mask(labels)
    return labels.astype(np.uint8, copy=False)


def statistics(labels: np.ndarray) -> np.ndarray:
    """Pixel count per class, (N_CLASSES,) int64, of class ids or one-hot labels (ids >= N_CLASSES not counted)."""
    ids = as_ids(labels)
    return np.array([np.count_nonzero(ids == c) for c in range(N_CLASSES)], dtype=np.int64)


def get_percentages(labels: np.ndarray) -> np.ndarray:
    """Percentage of pixels per class, (N_CLASSES,) float64 summing to 100."""
    counts = statistics(labels)
    return 100.0 * counts / max(int(counts.sum()), 1)


def format_percentages(percentages: np.ndarray) -> str:
    """'background 92.10 %, glowing 6.80 %, ...' for printing and legends."""
    return ", ".join(f"{n} {p:.2f} %" for n, p in zip(CLASS_NAMES, percentages))


def mask_to_label(mask: np.ndarray) -> np.ndarray:
    """Class ids (..., h, w) or one-hot (..., h, w, N_CLASSES) -> RGB (..., h, w, 3) float32 in class colours."""
    return CLASS_COLOURS[as_ids(mask)]
