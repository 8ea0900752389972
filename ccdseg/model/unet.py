"""The U-Net as one function of the Keras functional API, and the named presets of its settings.

The network sees frames normalised by `model.normalisation.normalise_frames`;
that module is numpy only, so preparing frames never loads TensorFlow.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, regularizers

from ccdseg.core.classes import N_CLASSES
from ccdseg.core.errors import UserInputError
from ccdseg.model.loss import weighted_categorical_crossentropy

# %% Presets (the one place they are defined)
PRESETS: dict[str, dict] = {
    "original": dict(
        depth=4, base_filters=32, dropout=0.18, activation="elu", reg=0.01, optimizer="adadelta", weighting="inverse"
    ),
    "default": dict(
        depth=3, base_filters=16, dropout=0.0, activation="elu", reg=0.0, optimizer="adam", weighting="none"
    ),
}


# %% Model
def conv_block(x, filters: int, activation: str, regulariser, dropout: float, dilation_rate: int):
    """Two 3x3 convolutions (he_normal, L2 `regulariser`), with dropout between them."""
    conv = dict(
        padding="same",
        activation=activation,
        kernel_initializer="he_normal",
        kernel_regularizer=regulariser,
        dilation_rate=dilation_rate,
    )
    x = layers.Conv2D(filters, 3, **conv)(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return layers.Conv2D(filters, 3, **conv)(x)


def unet(
    pretrained_weights: str | None = None,
    input_size: tuple = (None, None, 1),
    weights=None,
    activation: str = "elu",
    dropout: float = 0.18,
    loss=None,
    optimizer="adadelta",
    dilation_rate: int = 1,
    reg: float = 0.01,
    depth: int = 4,
    base_filters: int = 32,
    learning_rate: float | None = None,
):
    """The U-Net of the original, with depth and width as options.

    `depth` poolings with base_filters * 2**level filters, two 3x3 convolutions
    per level (dropout between them), he_normal initialisation, L2
    regularisation `reg`, Conv2DTranspose up-sampling, 1x1 softmax to 4
    classes. Input (None, None, 1): any frame whose sides are multiples of
    2**depth. `loss` defaults to the weighted cross-entropy with `weights`
    (all ones when None).
    """
    if depth < 1:
        raise UserInputError(f"depth must be at least 1, not {depth}")
    regulariser = regularizers.L2(reg) if reg else None
    conv = dict(activation=activation, regulariser=regulariser, dropout=dropout, dilation_rate=dilation_rate)

    inputs = keras.Input(shape=input_size, name="normalised_frame")
    x = inputs
    skips = []
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level, **conv)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = conv_block(x, base_filters * 2**depth, **conv)
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base_filters * 2**level, 2, strides=2, padding="same")(x)
        x = layers.Concatenate()([x, skips[level]])
        x = conv_block(x, base_filters * 2**level, **conv)
    outputs = layers.Conv2D(N_CLASSES, 1, activation="softmax", name="class_probabilities")(x)
    model = keras.Model(inputs, outputs, name="unet")
    if isinstance(optimizer, str):
        optimizer = keras.optimizers.get(
            {"class_name": optimizer, "config": {"learning_rate": learning_rate}} if learning_rate else optimizer
        )
    model.compile(
        optimizer=optimizer,
        loss=loss or weighted_categorical_crossentropy(np.ones(N_CLASSES) if weights is None else weights),
        metrics=["accuracy"],
    )
    if pretrained_weights:
        model.load_weights(pretrained_weights)
    return model


def build_preset(name: str, weights=None, learning_rate: float | None = None, channels: int = 1):
    """Build and compile the U-Net of a named preset ('default' or 'original') for `channels` inputs."""
    if name not in PRESETS:
        raise UserInputError(f"preset {name!r} is not one of {', '.join(PRESETS)}")
    options = {k: v for k, v in PRESETS[name].items() if k != "weighting"}
    return unet(input_size=(None, None, channels), weights=weights, learning_rate=learning_rate, **options)
