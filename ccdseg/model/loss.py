"""The weighted categorical cross-entropy of the original, registered with Keras so saved models load without extra code.

Registered under the package name 'ccdseg': the shipped model's loss is
stored as `ccdseg>WeightedCategoricalCrossentropy`.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ccdseg.core.classes import N_CLASSES


# %% Loss
@keras.saving.register_keras_serializable(package="ccdseg")
class WeightedCategoricalCrossentropy(keras.losses.Loss):
    """-sum_c w_c y_c log p_c per pixel; y one-hot (..., 4), p softmax (..., 4)."""

    def __init__(self, class_weights=(1.0,) * N_CLASSES, name="weighted_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = [float(w) for w in class_weights]

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        y_pred = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
        w = ops.convert_to_tensor(self.class_weights, dtype=y_pred.dtype)
        return -ops.sum(y_true * ops.log(y_pred) * w, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"class_weights": self.class_weights})
        return config


def weighted_categorical_crossentropy(weights) -> WeightedCategoricalCrossentropy:
    """Categorical cross-entropy with a weight per class, as in the original.

    weights : (4,) class weights (see `model.class_weights.get_weights`). Returns a
    Keras loss, registered so that a saved model loads with
    `keras.saving.load_model` once this module is imported.
    """
    return WeightedCategoricalCrossentropy(class_weights=[float(w) for w in np.ravel(weights)])
