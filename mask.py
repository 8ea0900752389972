"""Class labels of CCD pixels: definitions, threshold labelling, scoring, figures.

Every pixel of a frame belongs to one of four classes. Their ids, names and
colours are defined here, once, and imported by every other module.

The threshold rule (`get_class`) is the original project's way of making
labels: a pixel's value above the pedestal is compared with bands derived from
the simulation's own parameters (glowing and hot-pixel intensities, readout
noise). It needs no model, and is the baseline the U-Net must beat.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from image_details import SimulationParameters

# %% Settings - edit here when running top to bottom in Spyder
BAND_SIGMA = 3.0
CLUSTER_THRESHOLD_SIGMA = 3.0
DISPLAY_MAX_PX = 1024

# %% Class definitions (the one place they live)
BACKGROUND, GLOWING, HOT_PIXEL, CLUSTER = 0, 1, 2, 3
CLASS_IDS = (BACKGROUND, GLOWING, HOT_PIXEL, CLUSTER)
CLASS_NAMES = ("background", "glowing", "hot pixel", "cluster")
N_CLASSES = len(CLASS_NAMES)
CLASS_COLOURS = np.array(
    [(0.0, 0.0, 0.0), (0.35, 1.0, 0.25), (0.0, 0.5, 1.0), (1.0, 0.2, 0.2)],
    dtype=np.float32,
)


class UserInputError(Exception):
    """A problem the user can fix: a missing file, a bad shape, a bad option.

    Command-line entry points catch it, print its one-line message and exit
    with a non-zero status instead of a traceback.
    """


# %% Functions
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


def get_monochrome(images: np.ndarray) -> np.ndarray:
    """Return single-channel float32 images.

    (..., h, w) arrays pass through; (..., h, w, 3|4) RGB(A) images become the
    mean of their colour channels; (..., h, w, 1) loses its channel axis.
    """
    images = np.asarray(images)
    if images.ndim >= 3 and images.shape[-1] in (3, 4):
        return images[..., :3].astype(np.float32).mean(axis=-1)
    if images.ndim >= 3 and images.shape[-1] == 1:
        return images[..., 0].astype(np.float32)
    return images.astype(np.float32, copy=False)


def _default_parameters() -> SimulationParameters:
    from image_details import SimulationParameters

    return SimulationParameters()


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
    params = params or _default_parameters()
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


def hysteresis_clusters(
    images: np.ndarray, seed_sigma: float = 4.0, grow_sigma: float = 1.5
) -> np.ndarray:
    """The physicists' clustering rule on the pedestal-subtracted frame.

    Pixels above `grow_sigma` noise sigmas that are 8-connected to a seed pixel
    above `seed_sigma` sigmas. Pedestal and noise are estimated per frame
    (median, 1.4826 x MAD). images (..., h, w) ADU -> (..., h, w) bool.
    """
    from scipy import ndimage

    images = get_monochrome(images)
    pedestal, sigma = robust_background(images)
    excess = (images - pedestal) / np.maximum(sigma, 1e-6)
    grow = excess >= grow_sigma
    seed = excess >= seed_sigma
    structure = np.zeros((3,) * images.ndim, dtype=bool)
    structure[(1,) * (images.ndim - 2)] = True
    labels, _ = ndimage.label(grow, structure=structure)
    seeded = np.zeros(labels.max() + 1, dtype=bool)
    seeded[labels[seed]] = True
    seeded[0] = False
    return seeded[labels]


def rule_labels(
    images: np.ndarray,
    params: SimulationParameters | None = None,
    rule: str = "hysteresis",
    n_sigma: float = 3.0,
) -> np.ndarray:
    """Class ids from a classical rule: bands for glowing and hot pixels, a rule for clusters.

    rule 'hysteresis' (seed 4 sigma, grow 1.5 sigma, 8-connected) or 'sigma'
    (a plain `n_sigma` cut). Pedestal and noise come from each frame.
    """
    labels = get_class(images, params, cluster_threshold_sigma=np.inf, estimate_background=True)
    if rule == "hysteresis":
        clusters = hysteresis_clusters(images)
    elif rule == "sigma":
        pedestal, sigma = robust_background(get_monochrome(images))
        clusters = get_monochrome(images) - pedestal >= n_sigma * sigma
    else:
        raise UserInputError(f"rule {rule!r} is not 'hysteresis' or 'sigma'")
    labels[clusters & (labels == BACKGROUND)] = CLUSTER
    return labels


def robust_background(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return per-frame pedestal and readout noise, ADU, robust to bright objects.

    Objects (glowing columns, hot pixels, clusters) only add charge, so the
    pixels below the pedestal are pure noise. First pass: median and the
    median distance of the lower half. Second pass: the median of pixels below
    that median + 3 sigma is the pedestal; 1.4826 x the median distance below
    it is the noise. NaN pixels are ignored. Both outputs have shape
    (..., 1, 1) so they broadcast against `images` (..., h, w).
    """
    images = np.asarray(images, dtype=np.float32)
    axes = (-2, -1)
    median = np.nanmedian(images, axis=axes, keepdims=True)
    below = np.where(images <= median, median - images, np.nan)
    sigma = 1.4826 * np.nanmedian(below, axis=axes, keepdims=True)
    clipped = np.where(images <= median + 3.0 * sigma, images, np.nan)
    pedestal = np.nanmedian(clipped, axis=axes, keepdims=True)
    below = np.where(images <= pedestal, pedestal - images, np.nan)
    sigma = 1.4826 * np.nanmedian(below, axis=axes, keepdims=True)
    sigma = np.where(np.isfinite(sigma), sigma, 0.0)
    pedestal = np.where(np.isfinite(pedestal), pedestal, 0.0)
    return pedestal.astype(np.float32), sigma.astype(np.float32)


def to_one_hot(class_ids: np.ndarray) -> np.ndarray:
    """(..., h, w) uint8 class ids -> (..., h, w, 4) float32 one-hot."""
    return np.eye(N_CLASSES, dtype=np.float32)[np.asarray(class_ids, dtype=np.intp)]


def get_mask(images: np.ndarray, params: SimulationParameters | None = None, **kwargs) -> np.ndarray:
    """Threshold-label images (..., h, w) ADU -> one-hot (..., h, w, 4) float32."""
    return to_one_hot(get_class(images, params, **kwargs))


def get_max_in_mask(mask: np.ndarray) -> np.ndarray:
    """One-hot or probabilities (..., h, w, 4) -> (..., h, w) uint8 class ids."""
    return np.argmax(mask, axis=-1).astype(np.uint8)


def _as_ids(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim >= 2 and labels.shape[-1] == N_CLASSES and np.issubdtype(labels.dtype, np.floating):
        return get_max_in_mask(labels)
    return labels.astype(np.uint8, copy=False)


def mask_to_label(mask: np.ndarray) -> np.ndarray:
    """Class ids (..., h, w) or one-hot (..., h, w, 4) -> RGB (..., h, w, 3) in class colours."""
    return CLASS_COLOURS[_as_ids(mask)]


def mask_to_label_one_object(mask: np.ndarray, which: str | int) -> np.ndarray:
    """Like `mask_to_label`, but only class `which` is coloured; the rest is black."""
    ids = _as_ids(mask)
    rgb = np.zeros(ids.shape + (3,), dtype=np.float32)
    cid = class_id(which)
    rgb[ids == cid] = CLASS_COLOURS[cid]
    return rgb


def statistics(labels: np.ndarray) -> np.ndarray:
    """Pixel count per class, (4,) int64, of class ids or one-hot labels."""
    return np.bincount(_as_ids(labels).ravel(), minlength=N_CLASSES)[:N_CLASSES]


def get_percentages(labels: np.ndarray) -> np.ndarray:
    """Percentage of pixels per class, (4,) float64 summing to 100."""
    counts = statistics(labels)
    return 100.0 * counts / max(int(counts.sum()), 1)


def format_percentages(percentages: np.ndarray) -> str:
    """'background 92.10 %, glowing 6.80 %, ...' for printing and legends."""
    return ", ".join(f"{n} {p:.2f} %" for n, p in zip(CLASS_NAMES, percentages))


def create_masks(class_ids: np.ndarray) -> np.ndarray:
    """Truth class ids (n, h, w) -> one-hot masks (n, h, w, 4) for training."""
    return to_one_hot(class_ids)


def create_labels(class_ids: np.ndarray) -> np.ndarray:
    """Class ids or one-hot masks of a data set -> RGB labels (n, h, w, 3)."""
    return mask_to_label(class_ids)


def output_to_label(output: np.ndarray) -> np.ndarray:
    """Model output probabilities (..., h, w, 4) -> RGB label of the most likely class."""
    return mask_to_label(get_max_in_mask(output))


def output_to_label_one_object(output: np.ndarray, which: str | int) -> np.ndarray:
    """Model output (..., h, w, 4) -> RGB label showing class `which` only."""
    return mask_to_label_one_object(get_max_in_mask(output), which)


def percentage_result(output: np.ndarray) -> np.ndarray:
    """Percentage of pixels per predicted class of model output or class ids."""
    return get_percentages(_as_ids(output))


def confusion(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(4, 4) int64 confusion matrix, rows truth, columns prediction."""
    p = _as_ids(prediction).ravel().astype(np.int64)
    t = _as_ids(truth).ravel().astype(np.int64)
    if p.shape != t.shape:
        raise UserInputError(f"prediction has {p.size} pixels but truth has {t.size}")
    return np.bincount(t * N_CLASSES + p, minlength=N_CLASSES**2).reshape(N_CLASSES, N_CLASSES)


def scores_from_confusion(matrix: np.ndarray) -> dict[str, dict[str, float]]:
    """Per-class precision, recall, F1, IoU and support from a confusion matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    result: dict[str, dict[str, float]] = {}
    for cid, name in enumerate(CLASS_NAMES):
        precision = tp[cid] / predicted[cid] if predicted[cid] else 0.0
        recall = tp[cid] / actual[cid] if actual[cid] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        union = predicted[cid] + actual[cid] - tp[cid]
        result[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "iou": float(tp[cid] / union) if union else 0.0,
            "support": int(actual[cid]),
        }
    result["accuracy"] = {"value": float(tp.sum() / max(matrix.sum(), 1))}
    return result


def score_labels(prediction: np.ndarray, truth: np.ndarray) -> dict[str, dict[str, float]]:
    """Score any label set against the truth: per-class precision, recall, F1, IoU, support."""
    return scores_from_confusion(confusion(prediction, truth))


def classification_report(prediction: np.ndarray, truth: np.ndarray, digits: int = 3) -> str:
    """scikit-learn's classification report of class ids, with our class names."""
    from sklearn.metrics import classification_report as sk_report

    return sk_report(
        _as_ids(truth).ravel(),
        _as_ids(prediction).ravel(),
        labels=list(CLASS_IDS),
        target_names=list(CLASS_NAMES),
        digits=digits,
        zero_division=0,
    )


def display_available() -> bool:
    """True when matplotlib can show figures on a screen (or inline, as in Spyder)."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    return "agg" != backend and "pdf" not in backend and "svg" not in backend


def finish_figure(fig, path: str | os.PathLike | None, show: bool = True) -> None:
    """Save `fig` as PNG at `path` (folders made), show it when a display exists, close it."""
    import matplotlib.pyplot as plt

    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    if show and display_available():
        plt.show()
    plt.close(fig)


def reduce_for_display(data: np.ndarray, factor: int, labels: bool) -> np.ndarray:
    """Shrink (h, w) by `factor` for drawing, so that small objects stay visible.

    Images keep each block's maximum; class ids keep the block's highest
    priority class (hot pixel > cluster > glowing > background).
    """
    if factor <= 1:
        return data
    height, width = data.shape[:2]
    padded = np.pad(data, ((0, (-height) % factor), (0, (-width) % factor)), mode="edge")
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    if not labels:
        return blocks.max(axis=(1, 3))
    rank = np.array([0, 1, 3, 2], dtype=np.uint8)
    return np.argsort(rank).astype(np.uint8)[rank[blocks].max(axis=(1, 3))]


def visualize_label(
    image: np.ndarray,
    label: np.ndarray | None = None,
    prediction: np.ndarray | None = None,
    path: str | os.PathLike | None = None,
    title: str = "",
    show: bool = True,
    only: str | int | None = None,
) -> None:
    """The one figure helper: image | label | predicted label, with a class legend.

    Parameters
    ----------
    image : (h, w) ADU
    label, prediction : (h, w) class ids or (h, w, 4) one-hot/probabilities;
        either may be None. The legend gives each class's share of pixels.
    only : show only this class in the label panels.

    Frames larger than `DISPLAY_MAX_PX` are drawn reduced (`reduce_for_display`),
    which keeps the figure's memory small; the legend's percentages always
    come from the full-resolution labels.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    factor = -(-max(np.shape(image)[:2]) // DISPLAY_MAX_PX)

    panels = [("image (ADU)", image)]
    if label is not None:
        panels.append(("label", label))
    if prediction is not None:
        panels.append(("predicted label", prediction))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1.5, 4.4), squeeze=False)
    for ax, (name, data) in zip(axes[0], panels):
        if name.startswith("image"):
            data = reduce_for_display(np.asarray(data, dtype=np.float32), factor, labels=False)
            lo, hi = np.percentile(data, [1, 99.7])
            shown = ax.imshow(data, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
        else:
            ids = _as_ids(data)
            pct = get_percentages(ids)
            ids = reduce_for_display(ids, factor, labels=True)
            rgb = mask_to_label(ids) if only is None else mask_to_label_one_object(ids, only)
            ax.imshow(rgb, interpolation="nearest")
            handles = [
                Patch(facecolor=CLASS_COLOURS[c], edgecolor="grey", label=f"{CLASS_NAMES[c]} {pct[c]:.2f} %")
                for c in CLASS_IDS
            ]
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, fontsize=8)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    finish_figure(fig, path, show)
