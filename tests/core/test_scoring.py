"""Pixel scores (ccdseg/core/scoring.py): the confusion matrix and per-class scores agree with scikit-learn."""
import numpy as np
import pytest

from ccdseg.core import classes, scoring
from ccdseg.core.errors import UserInputError


def test_scores_agree_with_scikit_learn():
    from sklearn.metrics import precision_recall_fscore_support

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, 5000).astype(np.uint8)
    prediction = np.where(rng.uniform(size=5000) < 0.7, truth, rng.integers(0, 4, 5000)).astype(np.uint8)
    scores = scoring.score_labels(prediction, truth)
    p, r, f, s = precision_recall_fscore_support(truth, prediction, labels=[0, 1, 2, 3])
    for cid, name in enumerate(classes.CLASS_NAMES):
        assert scores[name]["precision"] == pytest.approx(p[cid])
        assert scores[name]["recall"] == pytest.approx(r[cid])
        assert scores[name]["f1"] == pytest.approx(f[cid])
        assert scores[name]["support"] == s[cid]
    assert "hot pixel" in scoring.classification_report(prediction, truth)


def test_confusion_rows_are_truth_and_columns_prediction():
    truth = np.array([0, 0, 1, 3, 3, 3], np.uint8)
    prediction = np.array([0, 3, 1, 3, 3, 0], np.uint8)
    matrix = scoring.confusion(prediction, truth)
    assert matrix.shape == (4, 4) and matrix.sum() == 6
    assert matrix[0, 3] == 1 and matrix[3, 0] == 1 and matrix[3, 3] == 2 and matrix[1, 1] == 1
    scores = scoring.scores_from_confusion(matrix)
    assert scores["cluster"]["precision"] == pytest.approx(2 / 3) and scores["cluster"]["iou"] == pytest.approx(0.5)
    assert scores["hot pixel"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "iou": 0.0, "support": 0}
    assert scores["accuracy"]["value"] == pytest.approx(4 / 6)
    with pytest.raises(UserInputError, match="pixels"):
        scoring.confusion(prediction[:5], truth)
