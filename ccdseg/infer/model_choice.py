"""Which trained model segments a frame: the one made for its kind of detector, chosen from the frame itself.

Two shipped models: `Models/default.keras` for CCD frames of the 2020 DAMIC
kind (electrons not resolved) and `Models/skipper.keras` for skipper-CCD
frames (DAMIC-M: single electrons resolved, readout noise well below an
electron). A frame is a skipper frame when its pixel distribution shows the
comb of electron peaks (`measure.background.single_electrons`), which tells
its noise in electrons: the choice follows the physics of the frame, not
its file name or header. The amplifiers of one file are one readout, all
skipper or none: a frame whose comb is not found (very little dark current
and a noise near the limit) is a skipper frame when more than half of its
file's frames are (`for_frame`'s `siblings`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ccdseg.core import paths
from ccdseg.infer.segmenter import Segmenter
from ccdseg.measure.background import single_electrons

# %% Defaults
SKIPPER_MODEL_NAME = "skipper.keras"


# %% The choice
def skipper_model_path() -> Path:
    """The shipped skipper-CCD model, beside the default one (read when called)."""
    return paths.DEFAULT_MODEL.with_name(SKIPPER_MODEL_NAME)


@dataclass
class ModelChoice:
    """The models to choose from, by kind of frame: 'ccd' (default) and, when shipped, 'skipper'.

    `for_frame(frame)` returns the model for that frame and one line saying
    why. A single model (`--model`) is used for every frame.
    """

    models: dict[str, Segmenter]

    @classmethod
    def load(cls, path: str | Path | None = None) -> ModelChoice:
        """The model given (every frame), or the shipped default and, when present, the shipped skipper model."""
        if path is not None:
            return cls({"ccd": Segmenter.load(path)})
        models = {"ccd": Segmenter.load(paths.DEFAULT_MODEL)}
        if skipper_model_path().is_file():
            models["skipper"] = Segmenter.load(skipper_model_path())
        return cls(models)

    def map(self, change) -> ModelChoice:
        """The same choice with every model passed through `change` (a runtime, a precision)."""
        return ModelChoice({kind: change(model) for kind, model in self.models.items()})

    @property
    def default(self) -> Segmenter:
        return self.models["ccd"]

    def for_frame(self, frame: np.ndarray, siblings: Callable[[], list[bool]] | None = None) -> tuple[Segmenter, str]:
        """The model for one frame (h, w) ADU, and why: its single electrons resolved or not.

        siblings : called only when the frame's own electrons are not
        resolved, whether each other frame of its file is resolved
        (`resolved`); when more than half of the file's frames, this one
        counted, are, the frame was read with them and gets the skipper model.
        """
        if len(self.models) == 1:
            return self.default, "the model given"
        found = single_electrons(frame)
        if found is not None:
            gain, noise = found
            return self.models["skipper"], f"single electrons resolved (noise {noise / gain:.2f} e): a skipper frame"
        others = siblings() if siblings is not None else []
        if sum(others) > (len(others) + 1) / 2:
            return self.models["skipper"], (f"not resolved here, but in {sum(others)} of the file's {len(others) + 1}"
                                            " frames: a skipper frame")
        return self.default, "single electrons not resolved: a CCD frame"


def resolved(frame: np.ndarray) -> bool:
    """Whether a frame (h, w) ADU shows its single electrons resolved (`measure.background.single_electrons`)."""
    return single_electrons(frame) is not None
