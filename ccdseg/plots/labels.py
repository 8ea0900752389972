"""Frames and their class maps drawn: the one image | label | prediction figure, and its helpers.

Figures are saved as PNG through `finish_figure` and shown when a display
exists. Class colours and names come from `core.classes`.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from ccdseg.core.classes import (
    CLASS_COLOURS,
    CLASS_IDS,
    CLASS_NAMES,
    N_CLASSES,
    PRIORITY,
    as_ids,
    class_id,
    get_percentages,
    mask_to_label,
    priority_rank,
)
from ccdseg.core.safe_write import write_atomically

# %% Defaults
DISPLAY_MAX_PX = 460  # a panel's width in a saved figure (4.2 in at 110 dpi): one-pixel lines of larger frames survive


# %% Saving and showing
def display_available() -> bool:
    """True when matplotlib can show figures on a screen (or inline, as in Spyder)."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    return "agg" != backend and "pdf" not in backend and "svg" not in backend


def finish_figure(fig, path: str | os.PathLike | None, show: bool = True) -> None:
    """Save `fig` as PNG at `path` atomically (folders made), show it when a display exists, close it.

    Whether `path` may be replaced is the caller's decision (`core.safe_write.refuse_existing`).
    """
    import matplotlib.pyplot as plt

    if path is not None:
        write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"), force=True)
    if show and display_available():
        plt.show()
    plt.close(fig)


def reduce_for_display(data: np.ndarray, factor: int, labels: bool) -> np.ndarray:
    """Shrink (h, w) by `factor` for drawing, so that small objects stay visible.

    Images keep each block's maximum; class ids keep the block's highest
    priority class (`core.classes.PRIORITY`: hot pixel > cluster > glowing > background).
    """
    if factor <= 1:
        return data
    height, width = data.shape[:2]
    short_h, short_w = (-height) % factor, (-width) % factor
    padded = np.pad(data, ((0, short_h), (0, short_w)), mode="edge") if short_h or short_w else data
    if labels:
        ranks = np.zeros(256, dtype=np.uint8)
        ranks[: len(PRIORITY)] = priority_rank()
        padded = cv2.LUT(np.ascontiguousarray(padded, dtype=np.uint8), ranks)
    # each block's maximum: a dilation whose kernel starts at the block's corner, sampled at the corners
    pooled = cv2.dilate(padded, np.ones((factor, factor), dtype=np.uint8), anchor=(0, 0))[::factor, ::factor]
    return np.array(PRIORITY, dtype=np.uint8)[pooled] if labels else pooled


def fill_masked(image: np.ndarray) -> np.ndarray:
    """Copy of an image (h, w) with NaN and inf pixels replaced by the median, for drawing."""
    image = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(image)
    if finite.all():
        return image
    return np.where(finite, image, np.median(image[finite]) if finite.any() else 0.0).astype(np.float32)


# %% Class colours
def mask_to_label_one_object(mask: np.ndarray, which: str | int) -> np.ndarray:
    """Like `mask_to_label`, but only class `which` is coloured; the rest is black."""
    ids = as_ids(mask)
    rgb = np.zeros(ids.shape + (3,), dtype=np.float32)
    cid = class_id(which)
    rgb[ids == cid] = CLASS_COLOURS[cid]
    return rgb


def class_legend(percentages: np.ndarray | None = None) -> list:
    """Legend handles, one per class in its colour; with `percentages`, each class's share."""
    from matplotlib.patches import Patch

    return [
        Patch(
            facecolor=CLASS_COLOURS[c],
            edgecolor="grey",
            label=CLASS_NAMES[c] if percentages is None else f"{CLASS_NAMES[c]} {percentages[c]:.2f} %",
        )
        for c in CLASS_IDS
    ]


def draw_image(fig, ax, image: np.ndarray, limits: tuple[float, float] | None = None) -> None:
    """Draw a frame (h, w) ADU in grey with a colour bar; `limits` default to its 1 and 99.7 percentiles."""
    lo, hi = limits if limits is not None else np.percentile(image, [1, 99.7])
    shown = ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)


# %% The image | label | prediction figure
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
    so that a hot column one pixel wide is still drawn (the screen would drop
    it) and the figure's memory stays small; the legend's percentages always
    come from the full-resolution labels.
    """
    import matplotlib.pyplot as plt

    factor = -(-max(np.shape(image)[:2]) // DISPLAY_MAX_PX)

    panels = [("image (ADU)", image)]
    if label is not None:
        panels.append(("label", label))
    if prediction is not None:
        panels.append(("predicted label", prediction))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1.5, 4.4), squeeze=False)
    for ax, (name, data) in zip(axes[0], panels):
        if name.startswith("image"):
            draw_image(fig, ax, reduce_for_display(np.asarray(data, dtype=np.float32), factor, labels=False))
        else:
            ids = as_ids(data)
            pct = get_percentages(ids)
            ids = reduce_for_display(ids, factor, labels=True)
            rgb = mask_to_label(ids) if only is None else mask_to_label_one_object(ids, only)
            ax.imshow(rgb, interpolation="nearest")
            ax.legend(handles=class_legend(pct), loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, fontsize=8)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    finish_figure(fig, path, show)


def plot_before_after(
    images: np.ndarray,
    truth: np.ndarray,
    new_images: np.ndarray,
    new_truth: np.ndarray,
    path: str | os.PathLike | None = None,
    show: bool = True,
) -> None:
    """One row per frame: image and label before, image and label after augmentation.

    images, new_images : (n, h, w) ADU, drawn with the same grey scale per row.
    truth, new_truth : (n, h, w) class ids, drawn in the class colours.
    """
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(n, 4, figsize=(13, 3.1 * n + 0.5), squeeze=False, layout="constrained")
    titles = ("image before (ADU)", "label before", "image after (ADU)", "label after")
    for row in range(n):
        limits = np.percentile(images[row], [1, 99.7])
        panels = (images[row], truth[row], new_images[row], new_truth[row])
        for col, (ax, data) in enumerate(zip(axes[row], panels)):
            if col % 2 == 0:
                draw_image(fig, ax, data, limits)
            else:
                ax.imshow(mask_to_label(data), interpolation="nearest")
            ax.set_title(titles[col] if row == 0 else "")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(f"frame {row}")
    fig.legend(handles=class_legend(), loc="outside lower center", ncol=N_CLASSES, fontsize=9)
    finish_figure(fig, path, show)
