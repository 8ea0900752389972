"""Training a U-Net in stages: the run's settings, its data, the model, the fit.

`train.py` runs the stages in order (`prepare_data`, `build_model`,
`fit_model`, then `evaluate.training_report.evaluate_and_save`); each stage
is a plain function of a `TrainingSettings`, so a run can also be made step
by step (in Spyder, or in a test).
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from ccdseg.core.classes import CLASS_NAMES, to_one_hot
from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import save_text
from ccdseg.model import training_data, unet
from ccdseg.model.augment import augment as augment_frames
from ccdseg.model.class_weights import get_weights
from ccdseg.model.normalisation import (
    ADU_NORMALISATION,
    MATCHED_NORMALISATION,
    NORMALISATION,
    input_channels,
    normalise_frames,
)
from ccdseg.model.training_data import (
    load_or_simulate,
    make_targets,
    overlap_weights,
    small_cluster_weights,
    split_validation,
    training_dataset,
)
from ccdseg.model.training_outputs import RunPaths, f1_callback
from ccdseg.model.unet import build_preset

# %% Defaults
# how probabilities become classes, written into the card (infer.decision); the matched rule needs the matched filter
DECISION = {
    "cluster_probability": 0.5,
    "glow_edge_max_px": 2,
    "hot_halo_fraction": 0.5,
    "matched_threshold": 5.0,
    "matched_guard_px": 3,
    "matched_grow_sigma": 1.5,
}



@dataclass(frozen=True)
class TrainingSettings:
    """What to train and on what: every option of `train.py` in one place."""

    preset: str = "default"
    model_name: str = "unet"
    epochs: int = 15
    batch_size: int = 8  # frames per training step
    train_count: int = 200
    varied_count: int = 200
    test_count: int = 42
    seed: int = 0
    labels: str = "truth"
    augment: bool = False
    learning_rate: float | None = None
    # the loss weights' defaults are `training_data`'s, read when the settings are made (so an edit there counts)
    overlap_weight: float = field(default_factory=lambda: training_data.OVERLAP_WEIGHT)
    small_cluster_weight: float = field(default_factory=lambda: training_data.SMALL_CLUSTER_WEIGHT)
    matched_filter: bool = True
    layout: str = "mixed"
    validation_split: float = 0.21
    weighting: str | None = None  # class weights of the loss; None: the preset's
    raw_adu: bool = False  # feed frames in ADU as the original did, not normalised per frame

    @property
    def normalisation(self) -> dict:
        """The input normalisation: with the matched-filter channel, the frame alone, or raw ADU."""
        if self.raw_adu:
            return dict(ADU_NORMALISATION)
        return dict(MATCHED_NORMALISATION if self.matched_filter else NORMALISATION)

    @property
    def decision(self) -> dict:
        """The decision rule written in the card: `DECISION` with the matched filter, else the most likely class."""
        return dict(DECISION) if self.matched_filter else {}


@dataclass
class TrainingData:
    """Frames and targets of one training run, normalised, with the validation split."""

    images: np.ndarray
    targets: np.ndarray
    normalised: np.ndarray
    fit_idx: np.ndarray
    val_idx: np.ndarray
    test_images: np.ndarray
    test_truth: np.ndarray
    test_normalised: np.ndarray
    provenance: dict = field(default_factory=dict)


# %% Stages of a run
def prepare_data(settings: TrainingSettings, workdir: Path) -> TrainingData:
    """Load or simulate the training, robustness and test sets; targets, split, augmentation, normalisation."""
    train_dir, test_dir = workdir / "Images" / "Train", workdir / "Images" / "Test"
    seed = settings.seed
    images, truth, provenance = load_or_simulate(train_dir, "training", settings.train_count, seed + 1,
                                                 layout=settings.layout)
    provenances = {"training": provenance}
    if settings.varied_count > 0:
        varied = load_or_simulate(train_dir, "varied", settings.varied_count, seed + 3, vary_physics=True,
                                  layout=settings.layout)
        images, truth = np.concatenate([images, varied[0]]), np.concatenate([truth, varied[1]])
        provenances["varied"] = varied[2]
    test_images, test_truth, provenances["test"] = load_or_simulate(test_dir, "test", settings.test_count, seed + 2,
                                                                    layout=settings.layout)
    targets = make_targets(images, truth, settings.labels)
    fit_idx, val_idx = split_validation(len(images), settings.validation_split, seed)
    if settings.augment:
        extra_images, extra_targets = augment_frames(images[fit_idx], targets[fit_idx], seed=seed)
        fit_idx = np.concatenate([fit_idx, len(images) + np.arange(len(extra_images))])
        images, targets = np.concatenate([images, extra_images]), np.concatenate([targets, extra_targets])
    return TrainingData(
        images=images,
        targets=targets,
        normalised=normalise_frames(images, settings.normalisation),
        fit_idx=fit_idx,
        val_idx=val_idx,
        test_images=test_images,
        test_truth=test_truth,
        test_normalised=normalise_frames(test_images, settings.normalisation),
        provenance=provenances,
    )


def build_model(settings: TrainingSettings, data: TrainingData, distribute: bool = False):
    """Class weights from the fitted frames' targets and the compiled U-Net of the preset; returns (model, weights)."""
    import tensorflow as tf

    weighting = settings.weighting or unet.PRESETS[settings.preset]["weighting"]
    weights = get_weights(data.targets[data.fit_idx], weighting)
    print(f"class weights ({weighting}): " + ", ".join(f"{n} {w:.3g}" for n, w in zip(CLASS_NAMES, weights)))
    strategy = tf.distribute.MirroredStrategy() if distribute else tf.distribute.get_strategy()
    with strategy.scope():
        model = build_preset(settings.preset, weights=weights, learning_rate=settings.learning_rate,
                                    channels=input_channels(settings.normalisation))
    return model, weights


def fit_model(model, data: TrainingData, settings: TrainingSettings, paths: RunPaths) -> dict:
    """Fit with the original's callbacks (and BackupAndRestore); return what the fit did.

    An interrupted run resumes from its backup: the epochs and seconds of
    every part are counted (`progress.json` in the backup folder). The
    weights kept are those of the epoch with the lowest validation loss
    (EarlyStopping restores them), and the returned record says which.
    """
    progress_path = paths.backup / "progress.json"
    earlier = json.loads(progress_path.read_text()) if progress_path.is_file() else {"seconds": 0.0}
    started = time.time()

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            paths.backup.mkdir(parents=True, exist_ok=True)
            save_text(progress_path, json.dumps({"seconds": earlier["seconds"] + time.time() - started}), force=True)

    f1_history: list[dict] = []
    callbacks = [
        f1_callback(data.normalised[data.val_idx], data.targets[data.val_idx], f1_history),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=16, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=5),
        keras.callbacks.ModelCheckpoint(paths.partial_model, monitor="val_loss", save_best_only=True),
        keras.callbacks.CSVLogger(paths.log, append=paths.backup.exists()),
        keras.callbacks.BackupAndRestore(str(paths.backup)),
        Progress(),
    ]
    fit = data.fit_idx
    pixel_weights = overlap_weights(data.targets[fit], settings.overlap_weight)
    pixel_weights *= small_cluster_weights(data.targets[fit], settings.small_cluster_weight)
    fit_data = training_dataset(data.normalised[fit], data.targets[fit], settings.batch_size, settings.seed, pixel_weights)
    val_data = (data.normalised[data.val_idx], to_one_hot(data.targets[data.val_idx]))
    model.fit(fit_data, validation_data=val_data, epochs=settings.epochs, callbacks=callbacks, verbose=2, shuffle=False)
    with open(paths.log) as handle:
        losses = [float(row["val_loss"]) for row in csv.DictReader(handle)]
    best = int(np.argmin(losses))
    print(f"kept the weights of epoch {best + 1} of {len(losses)}, the lowest validation loss ({losses[best]:.4f});"
          " the test scores below are that epoch's")
    return {"epochs_run": len(losses), "best_epoch": best + 1, "fit_seconds": earlier["seconds"] + time.time() - started,
            "resumed": bool(earlier["seconds"])}


def replace_settings(settings: TrainingSettings, overrides: dict) -> TrainingSettings:
    """`settings` with some fields replaced; an unknown field name raises `UserInputError`."""
    unknown = set(overrides) - set(asdict(settings))
    if unknown:
        raise UserInputError(f"unknown training settings: {', '.join(sorted(unknown))}")
    return TrainingSettings(**{**asdict(settings), **overrides})
