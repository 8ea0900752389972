"""Clusters as objects: match true and predicted clusters, efficiency by charge, fakes, charge error.

A cluster is an 8-connected component of the cluster class. A true cluster
is found when any of its pixels is predicted cluster; a predicted component
touching no true cluster pixel is a fake. The deposited charge of a true
cluster is the simulated cluster charge (ADU) summed over its component; the
reconstructed charge is the pedestal-subtracted frame (pedestal = frame
median) summed over the predicted components that overlap it.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.stats import beta

from ccdseg.core.classes import CLUSTER
from ccdseg.core.errors import UserInputError
from ccdseg.io.catalogue import check_catalogue

# %% Defaults
CHARGE_BINS_ADU = np.geomspace(10.0, 100000.0, 17)  # 4 bins a decade
EFFICIENCY_TARGET = 0.9
MIN_CLUSTERS_PER_BIN = 5  # fewer true clusters in a bin: too few to judge the 90 % point


# %% Functions
def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    return ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))


def cluster_objects(image: np.ndarray, truth: np.ndarray, cluster_adu: np.ndarray, prediction: np.ndarray) -> dict:
    """Match true and predicted clusters of one frame as 8-connected components.

    image (h, w) ADU, truth and prediction (h, w) class ids, cluster_adu (h, w)
    deposited charge ADU. Returns per true cluster `charge_adu`, `found` and
    `reconstructed_adu` (k,) arrays, and the numbers of `predicted` and `fake`
    predicted clusters.
    """
    true_labels, n_true = _components(truth == CLUSTER)
    pred_labels, n_pred = _components(prediction == CLUSTER)
    true_index = np.arange(1, n_true + 1)
    pred_index = np.arange(1, n_pred + 1)
    charge = np.asarray(ndimage.sum_labels(cluster_adu, true_labels, true_index), dtype=np.float64)
    found = np.asarray(ndimage.maximum(prediction == CLUSTER, true_labels, true_index), dtype=bool)
    touches_truth = np.asarray(ndimage.maximum(truth == CLUSTER, pred_labels, pred_index), dtype=bool)
    excess = image.astype(np.float64) - float(np.median(image))
    pred_charge = np.zeros(n_pred + 1)
    pred_charge[1:] = ndimage.sum_labels(excess, pred_labels, pred_index)
    both = (true_labels > 0) & (pred_labels > 0)
    pairs = np.unique(np.stack([true_labels[both], pred_labels[both]]), axis=1)
    reconstructed = np.bincount(pairs[0], weights=pred_charge[pairs[1]], minlength=n_true + 1)[1:]
    return {
        "charge_adu": charge.reshape(-1),
        "found": found.reshape(-1),
        "reconstructed_adu": reconstructed,
        "predicted": int(n_pred),
        "fake": int(n_pred - np.count_nonzero(touches_truth)),
    }


def efficiency_threshold(
    edges_adu: np.ndarray, true_counts: np.ndarray, found_counts: np.ndarray, target: float = EFFICIENCY_TARGET
) -> tuple[float | None, str]:
    """Deposited charge (ADU) above which the detection efficiency stays >= `target`.

    Only bins with at least MIN_CLUSTERS_PER_BIN true clusters count. The
    crossing is interpolated linearly in log(charge) between bin centres.
    Returns (charge or None, how): 'interpolated', 'below the first bin' (the
    value is that bin's lower edge, an upper bound) or 'not reached'.
    """
    true_counts, found_counts = np.asarray(true_counts), np.asarray(found_counts)
    used = np.flatnonzero(true_counts >= MIN_CLUSTERS_PER_BIN)
    if used.size == 0:
        return None, "not reached"
    centres = np.sqrt(edges_adu[:-1] * edges_adu[1:])[used]
    eff = found_counts[used] / true_counts[used]
    below = np.flatnonzero(eff < target)
    if below.size == 0:
        return float(edges_adu[used[0]]), "below the first bin"
    last = below[-1]
    if last == used.size - 1:
        return None, "not reached"
    fraction = (target - eff[last]) / (eff[last + 1] - eff[last])
    log_charge = math.log(centres[last]) + fraction * (math.log(centres[last + 1]) - math.log(centres[last]))
    return float(math.exp(log_charge)), "interpolated"


def _quantiles(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"median": None, "p16": None, "p84": None, "count": 0}
    p16, median, p84 = np.percentile(values, [16, 50, 84])
    return {"median": float(median), "p16": float(p16), "p84": float(p84), "count": int(values.size)}


def cluster_summary(objects: list[dict], edges_adu: np.ndarray = CHARGE_BINS_ADU) -> dict:
    """Pool per-frame `cluster_objects` results: efficiency by charge bin, fakes, charge error."""
    charge = np.concatenate([o["charge_adu"] for o in objects])
    found = np.concatenate([o["found"] for o in objects])
    reconstructed = np.concatenate([o["reconstructed_adu"] for o in objects])
    bin_of = np.clip(np.searchsorted(edges_adu, charge, side="right") - 1, 0, len(edges_adu) - 2)
    n_bins = len(edges_adu) - 1
    true_counts = np.bincount(bin_of, minlength=n_bins)
    found_counts = np.bincount(bin_of[found], minlength=n_bins)
    relative_error = (reconstructed[found] - charge[found]) / charge[found]
    bins = []
    for b in range(n_bins):
        in_bin = bin_of[found] == b
        bins.append(
            {
                "low_adu": float(edges_adu[b]),
                "high_adu": float(edges_adu[b + 1]),
                "true": int(true_counts[b]),
                "found": int(found_counts[b]),
                "efficiency": float(found_counts[b] / true_counts[b]) if true_counts[b] else None,
                "median_charge_error": float(np.median(relative_error[in_bin])) if in_bin.any() else None,
            }
        )
    threshold, how = efficiency_threshold(edges_adu, true_counts, found_counts)
    frames = len(objects)
    fake = sum(o["fake"] for o in objects)
    return {
        "frames": frames,
        "true_clusters": int(charge.size),
        "found": int(found.sum()),
        "efficiency": float(found.mean()) if charge.size else None,
        "predicted_clusters": int(sum(o["predicted"] for o in objects)),
        "fake_clusters": int(fake),
        "fake_per_frame": fake / frames,
        "efficiency_90_adu": threshold,
        "efficiency_90_how": how,
        "charge_error": _quantiles(relative_error),
        "bins": bins,
    }


def clopper_pearson(found: np.ndarray, total: np.ndarray, level: float = 0.68) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial interval (central, `level`) of efficiencies found / total, (k,) each."""
    tail = (1 - level) / 2
    low = np.where(found > 0, beta.ppf(tail, found, total - found + 1), 0.0)
    high = np.where(found < total, beta.ppf(1 - tail, found + 1, total - found), 1.0)
    return np.nan_to_num(low), np.nan_to_num(high, nan=1.0)


def object_scores(images: np.ndarray, truth: np.ndarray, cluster_adu: np.ndarray, prediction: np.ndarray) -> dict:
    """Cluster scores counted on 8-connected cluster objects (`cluster_objects`), pooled over frames.

    images, cluster_adu (n, h, w) ADU; truth, prediction (n, h, w) class ids.
    Returns true, found, predicted, fake (counts), recall = found / true,
    precision = 1 - fake / predicted, f1, and fakes_per_frame.
    """
    images, truth = np.asarray(images), np.asarray(truth)
    if images.ndim == 2:
        images, truth = images[None], truth[None]
        cluster_adu, prediction = np.asarray(cluster_adu)[None], np.asarray(prediction)[None]
    true = found = predicted = fake = 0
    for image, t, charge, p in zip(images, truth, cluster_adu, prediction):
        objects = cluster_objects(image, t, charge, p)
        true += int(objects["found"].size)
        found += int(objects["found"].sum())
        predicted += objects["predicted"]
        fake += objects["fake"]
    recall = found / true if true else 0.0
    precision = 1.0 - fake / predicted if predicted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "true": true,
        "found": found,
        "predicted": predicted,
        "fake": fake,
        "recall": float(recall),
        "precision": float(precision),
        "f1": float(f1),
        "fakes_per_frame": fake / max(len(images), 1),
    }


def charge_error(
    catalogue: dict, truth: np.ndarray, cluster_adu: np.ndarray, class_map: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Relative charge error of each catalogue cluster against its matched true cluster.

    Parameters
    ----------
    catalogue : the catalogue of one frame, made by `cluster_catalogue` from
        `class_map` (its cluster_id are the labels of `class_map`'s clusters).
    truth : (h, w) uint8 true class ids; true clusters are its 8-connected
        CLUSTER components.
    cluster_adu : (h, w) float deposited cluster charge, ADU.
    class_map : (h, w) uint8 class ids the catalogue was made from.

    Returns
    -------
    deposited_adu : (n,) float64, `cluster_adu` summed over the true cluster
        with the largest overlap with each catalogue cluster; NaN when none.
    relative_error : (n,) float64, (charge_adu - deposited_adu) / deposited_adu.
    """
    n = check_catalogue(catalogue)
    class_map = np.asarray(class_map)
    if not (np.shape(truth) == np.shape(cluster_adu) == class_map.shape):
        raise UserInputError(f"shapes differ: truth {np.shape(truth)}, cluster_adu {np.shape(cluster_adu)}, "
                             f"class map {class_map.shape}")
    pred_labels, n_pred = ndimage.label(class_map == CLUSTER, structure=np.ones((3, 3), dtype=bool))
    if n_pred != n:
        raise UserInputError(f"catalogue has {n} clusters but its class map {n_pred}: not made from it")
    true_labels, n_true = ndimage.label(np.asarray(truth) == CLUSTER, structure=np.ones((3, 3), dtype=bool))
    deposited_true = np.zeros(n_true + 1)
    deposited_true[1:] = ndimage.sum_labels(np.asarray(cluster_adu, dtype=np.float64), true_labels,
                                            np.arange(1, n_true + 1))
    both = (pred_labels > 0) & (true_labels > 0)
    pair = pred_labels[both].astype(np.int64) * (n_true + 1) + true_labels[both]
    pairs, overlap = np.unique(pair, return_counts=True)
    order = np.lexsort((overlap, pairs // (n_true + 1)))  # by cluster, largest overlap last
    pred_of_pair, true_of_pair = np.divmod(pairs[order], n_true + 1)
    last = np.r_[pred_of_pair[1:] != pred_of_pair[:-1], True][: pairs.size]
    best_true = np.zeros(n + 1, dtype=np.int64)
    best_true[pred_of_pair[last]] = true_of_pair[last]
    deposited = np.where(best_true[1:] > 0, deposited_true[best_true[1:]], np.nan)
    ids = np.asarray(catalogue["cluster_id"], dtype=np.int64)
    deposited = deposited[ids - 1] if n else deposited
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = (np.asarray(catalogue["charge_adu"], dtype=np.float64) - deposited) / deposited
    return deposited, relative
