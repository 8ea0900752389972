"""Pixel scores of a label map against the truth: confusion matrix, precision, recall, F1, IoU."""
from __future__ import annotations

import numpy as np

from ccdseg.core.classes import CLASS_IDS, CLASS_NAMES, N_CLASSES, as_ids
from ccdseg.core.errors import UserInputError


# %% Functions
def confusion(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(4, 4) int64 confusion matrix, rows truth, columns prediction."""
    p = as_ids(prediction).ravel().astype(np.int64)
    t = as_ids(truth).ravel().astype(np.int64)
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
        as_ids(truth).ravel(),
        as_ids(prediction).ravel(),
        labels=list(CLASS_IDS),
        target_names=list(CLASS_NAMES),
        digits=digits,
        zero_division=0,
    )
