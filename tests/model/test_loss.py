"""The weighted loss (ccdseg/model/loss.py): the original's formula, registered so saved models load as they are."""
import keras
import numpy as np
import pytest

from ccdseg.model import loss, unet


def test_weighted_loss_matches_formula():
    weights = np.array([0.5, 1.0, 2.0, 4.0])
    loss_fn = loss.weighted_categorical_crossentropy(weights)
    y_true = np.eye(4, dtype=np.float32)[[0, 3, 2]][None]
    y_pred = np.array([[[0.7, 0.1, 0.1, 0.1], [0.2, 0.2, 0.2, 0.4], [0.25, 0.25, 0.25, 0.25]]], np.float32)
    expected = np.mean([-0.5 * np.log(0.7), -4.0 * np.log(0.4), -2.0 * np.log(0.25)])
    assert float(loss_fn(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)


def test_saved_model_loads_without_custom_objects(tmp_path):
    model = unet.unet(depth=2, base_filters=4, weights=[1, 2, 3, 4], optimizer="adam")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.loss.class_weights == [1.0, 2.0, 3.0, 4.0]
    x = np.random.default_rng(0).normal(size=(1, 32, 48, 1)).astype(np.float32)
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
