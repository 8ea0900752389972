"""Class weights of the loss from the class frequencies of the training targets."""
from __future__ import annotations

import numpy as np

from ccdseg.core.classes import CLASS_NAMES, N_CLASSES, statistics
from ccdseg.core.errors import UserInputError

# %% Defaults
WEIGHTINGS = ("inverse", "sqrt", "none")


# %% Class weights
def get_weights(labels: np.ndarray, mode: str = "inverse") -> np.ndarray:
    """Class weights (4,) float64 from class ids (n, h, w) or one-hot (n, h, w, 4).

    'inverse' (the original): w_c = 1 / f_c, normalised so the weights sum to
    the number of classes. 'sqrt': 1 / sqrt(f_c), normalised the same way,
    gentler on rare classes. 'none': all ones. A class with no pixel at all
    raises `UserInputError`, since its weight would be infinite.
    """
    if mode not in WEIGHTINGS:
        raise UserInputError(f"weighting {mode!r} is not one of {', '.join(WEIGHTINGS)}")
    counts = statistics(labels).astype(np.float64)
    if mode == "none":
        return np.ones(N_CLASSES)
    missing = [CLASS_NAMES[c] for c in range(N_CLASSES) if counts[c] == 0]
    if missing:
        raise UserInputError(f"no pixel of class {', '.join(missing)} in the labels; cannot weight it")
    frequency = counts / counts.sum()
    raw = 1.0 / frequency if mode == "inverse" else 1.0 / np.sqrt(frequency)
    return raw * N_CLASSES / raw.sum()
