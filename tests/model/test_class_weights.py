"""Class weights of the loss (ccdseg/model/class_weights.py): the original's inverse frequency, sqrt, none."""
import numpy as np
import pytest

from ccdseg.core.classes import N_CLASSES
from ccdseg.core.errors import UserInputError
from ccdseg.model import class_weights


def test_inverse_weights_formula():
    ids = np.array([0] * 90 + [1] * 6 + [2] * 1 + [3] * 3, np.uint8)
    w = class_weights.get_weights(ids)
    f = np.array([0.90, 0.06, 0.01, 0.03])
    expected = (1 / f) * N_CLASSES / (1 / f).sum()
    assert np.allclose(w, expected) and w.sum() == pytest.approx(N_CLASSES)
    sqrt = class_weights.get_weights(ids, "sqrt")
    assert sqrt.sum() == pytest.approx(N_CLASSES) and sqrt[2] / sqrt[0] == pytest.approx(np.sqrt(90))
    assert np.allclose(class_weights.get_weights(ids, "none"), 1)


def test_weights_refuse_absent_class():
    with pytest.raises(UserInputError, match="hot pixel"):
        class_weights.get_weights(np.array([0, 1, 3], np.uint8))
