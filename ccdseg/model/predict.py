"""The one prediction function: class probabilities of a Keras U-Net on normalised frames of any size.

Training (validation scores, figures) and inference (`infer.segmenter`) both
call `predict_normalised`.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ccdseg.core.classes import N_CLASSES

# %% Defaults
PREDICT_BATCH_FRAMES = 4  # whole frames per model call


# %% Functions
def pooling_depth(model) -> int:
    """Number of pooling layers of a Keras U-Net: its depth."""
    return sum("pooling" in layer.name for layer in model.layers)


def predict_normalised(model, normalised: np.ndarray, multiple: int | None = None,
                       batch_size: int | None = None,
                       infer: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Class probabilities (n, h, w, N_CLASSES) float32 of a Keras model on normalised frames (n, h, w, c).

    Frames of any size are padded by reflection to `multiple` (default
    2**depth of the model) and cropped back, `batch_size` frames per call
    (None: `PREDICT_BATCH_FRAMES`, read now). `infer(batch)` replaces the
    Keras call (another runtime of the same model).
    """
    batch_size = PREDICT_BATCH_FRAMES if batch_size is None else batch_size
    infer = infer or (lambda batch: np.asarray(model(batch, training=False)))
    multiple = multiple or 2 ** pooling_depth(model)
    n, height, width = normalised.shape[:3]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    mode = "reflect" if pad_h < height and pad_w < width else "symmetric"
    pad = ((0, 0), (0, pad_h), (0, pad_w), (0, 0))
    padded = np.pad(normalised, pad, mode=mode) if pad_h or pad_w else normalised
    out = np.empty((n, height, width, N_CLASSES), dtype=np.float32)
    for start in range(0, n, batch_size):
        batch = padded[start : start + batch_size]
        out[start : start + batch_size] = infer(batch)[:, :height, :width]
    return out
