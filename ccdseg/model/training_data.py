"""Training data for the U-Net: data sets loaded or simulated, targets, validation split, tf.data pipeline.

TensorFlow is imported only by `training_dataset`, the input pipeline.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from scipy import ndimage

from ccdseg.core.classes import CLUSTER, GLOWING, N_CLASSES
from ccdseg.core.errors import UserInputError
from ccdseg.io.arrays import load_npy_pair, save_dataset
from ccdseg.simulate.datasets import simulate_dataset
from ccdseg.simulate.thresholds import get_class

# %% Defaults
OVERLAP_WEIGHT = 10.0
OVERLAP_RADIUS_PX = 4
SMALL_CLUSTER_WEIGHT = 1.0
SMALL_CLUSTER_PX = 6


# %% Functions
def load_or_simulate(folder: Path, name: str, count: int, seed: int, vary_physics: bool = False,
                     layout: str = "mixed", detector: str = "damic-2020"):
    """Load NAME_data/NAME_truth from `folder`, simulating them (`layout`, `detector`) and saving them first if missing."""
    if not (folder / f"{name}_data.npy").exists() and not (folder / f"{name}_truth.npy").exists():
        print(f"simulating {count} {detector} {layout} frames for {folder / name}_* (seed {seed})")
        images, truth = simulate_dataset(count, seed, layout=layout, vary_physics=vary_physics, detector=detector)
        save_dataset(images, truth, folder, name)
        return images, truth, {"simulated": True, "count": count, "seed": seed, "vary_physics": vary_physics,
                               "layout": layout, "detector": detector}
    images, truth = load_npy_pair(folder, name)
    return images, truth, {"simulated": False, "count": int(len(images)), "path": str(folder / name)}


def make_targets(images: np.ndarray, truth: np.ndarray, labels: str) -> np.ndarray:
    """Class ids to learn: the exact truth, or the original's threshold labels."""
    if labels == "truth":
        return truth
    if labels == "thresholds":
        return get_class(images, estimate_background=True)
    raise UserInputError(f"--labels must be 'truth' or 'thresholds', not {labels!r}")


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled indices of training and validation frames."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction))) if n > 1 else 0
    return order[n_val:], order[:n_val]


def overlap_weights(targets: np.ndarray, weight: float = OVERLAP_WEIGHT, radius_px: int = OVERLAP_RADIUS_PX) -> np.ndarray:
    """Per-pixel loss weights (n, h, w) float32: clusters on glowing regions count `weight` times.

    A cluster on top of amplifier glow must be told from the glow level around
    it. Such pixels are rare (about 0.1 % of all) and hard, and with plain
    cross-entropy a model learns to call them all glowing. A cluster pixel
    counts as on glow when a glowing pixel lies within `radius_px`.
    """
    size = (1, 2 * radius_px + 1, 2 * radius_px + 1)
    near_glow = ndimage.maximum_filter(np.asarray(targets) == GLOWING, size=size[-targets.ndim:])
    weights = np.ones(targets.shape, dtype=np.float32)
    weights[(targets == CLUSTER) & near_glow] = weight
    return weights


def small_cluster_weights(
    targets: np.ndarray, weight: float = SMALL_CLUSTER_WEIGHT, max_px: int = SMALL_CLUSTER_PX
) -> np.ndarray:
    """Per-pixel loss factors (n, h, w) float32: pixels of small clusters count `weight` times.

    The dark-matter signal is the faint deposit of one to a few pixels above
    the noise. Among millions of background pixels its few pixels drown in a
    plain cross-entropy, and a model learns to miss it; counting them more
    keeps them heard. A cluster is small when its 8-connected truth
    component has at most `max_px` pixels.
    """
    targets = np.asarray(targets)
    weights = np.ones(targets.shape, dtype=np.float32)
    for frame, frame_weights in zip(targets.reshape(-1, *targets.shape[-2:]), weights.reshape(-1, *targets.shape[-2:])):
        labels, n = ndimage.label(frame == CLUSTER, structure=np.ones((3, 3), dtype=bool))
        if n:
            sizes = np.bincount(labels.ravel(), minlength=n + 1)
            small = sizes <= max_px
            small[0] = False
            frame_weights[small[labels]] = weight
    return weights


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, pixel_weights: np.ndarray | None = None):
    """tf.data pipeline: shuffle, random flips and 90-degree turns, one-hot targets.

    x : (n, h, w, c) normalised frames; y : (n, h, w) class ids. With
    `pixel_weights` (n, h, w) the batches carry them as per-pixel sample weights.
    """
    import tensorflow as tf

    weighted = pixel_weights is not None
    n_inputs = x.shape[-1]
    channels = [x, y[..., None].astype(np.float32)]
    if weighted:
        channels.append(pixel_weights[..., None].astype(np.float32))
    stacked_frames = np.concatenate(channels, axis=-1)

    def turn(stacked):
        stacked = tf.image.rot90(stacked, tf.random.uniform([], 0, 4, dtype=tf.int32, seed=seed))
        stacked = tf.image.random_flip_left_right(stacked, seed=seed)
        image = stacked[..., :n_inputs]
        target = tf.one_hot(tf.cast(stacked[..., n_inputs], tf.uint8), N_CLASSES)
        return (image, target, stacked[..., n_inputs + 1]) if weighted else (image, target)

    data = tf.data.Dataset.from_tensor_slices(stacked_frames)
    data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return data.map(turn, num_parallel_calls=1, deterministic=True).batch(batch_size).prefetch(2)
