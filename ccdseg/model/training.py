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

from ccdseg.core.classes import CLASS_NAMES
from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import save_text
from ccdseg.model import training_data, unet
from ccdseg.model.augment import augment as augment_frames
from ccdseg.model.class_weights import get_weights
from ccdseg.model.normalisation import (
    ADU_NORMALISATION,
    MATCHED_NORMALISATION,
    MATCHED_ROW_NORMALISATION,
    NORMALISATION,
    ROW_NORMALISATION,
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
from ccdseg.model.crops import CropBatches, epoch_crops
from ccdseg.model.training_outputs import RunPaths, progress_callback, validation_callback
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
    # a cluster's summed charge must stand 3 sigma above the background's (sum of sigmas / sqrt(pixels)):
    # on validation frames a third fewer fakes and half the fakes on blank frames, for 0.02 of efficiency at 300 ADU
    "min_cluster_significance": 3.0,
    # a cluster enclosed by a glowing block must stand 3 sigma above the glow around it: on validation frames
    # (seed 6001) fakes of train.py's seeds 0 / 1 / 2 from 0.42 / 0.88 / 0.70 to 0.20 / 0.53 / 0.60 a frame,
    # clusters found 0.897 / 0.841 / 0.874 to 0.897 / 0.836 / 0.874
    "glow_cluster_significance": 3.0,
    # hot pixels come in rows and columns of 10 px or more: a spot under 6 px is a deposit's peak. On validation
    # frames (seed 6001) clusters found by train.py's seeds 0 / 1 / 2 from 0.897 / 0.836 / 0.874 to
    # 0.902 / 0.884 / 0.889, fakes unchanged, injected 3000 ADU found 0.99 / 0.74 / 0.94 to 1.00 / 0.99 / 1.00
    "hot_min_length_px": 6,
    # a hot segment crossing a glowing block is hot pixel, not a cluster: on validation frames (seed 6001) fakes of
    # train.py's seeds 0 / 1 / 2 from 0.20 / 0.53 / 0.60 to 0.07 / 0.05 / 0.12 a frame, clusters found unchanged
    "glow_hot_line_sigma": 10.0,
    # a cluster whose bright pixels are one level row or column of 6 or more (spread <= 3 sigma) is a hot segment
    # outside the learned intensities: on other-physics validation frames (seed 6102) cluster F1 0.613 -> 0.654,
    # hot-pixel F1 0.793 -> 0.897, fakes 18.5 -> 16.5 a frame; no pixel changed on mixed, banded, other-clusters
    "hot_line_max_spread": 3.0,
    # a cluster on a glowing block's edge at the glow's level (within 3 sigma) is glowing: on validation frames of
    # other physics (seed 6102) and of both (6103) cluster F1 0.654 -> 0.658 and 0.288 -> 0.314, clusters found
    # unchanged; no pixel changed on mixed, banded and other-clusters
    "glow_edge_significance": 3.0,
}
# skipper frames: defects from the frame's own calibration, and no cluster the dark current alone could make
SKIPPER_DECISION = {
    "cluster_probability": 0.3,
    "frame_defects": True,
    "frame_defects_cluster_sigma": 20.0,
    "min_cluster_significance": 5.0,
    "dark_current_false_alarm": 1e-8,
    # clusters grown onto edge pixels holding at least one electron and the dark current's mean, where the network
    # gives 9 % or more, or holding 4 electrons and 3 times the dark current's mean: on 172 validation frames track
    # pixels called cluster 0.973 to 0.991 (those of 4 electrons or more 0.9976 to 0.9997), cluster F1 -0.006
    "edge_likelihood_ratio": 1.0,
    "edge_probability": 0.09,
    "edge_bright_electrons": 4,
    "edge_bright_ratio": 3.0,
}
DETECTORS = ("damic-2020", "damic-m")
COSINE_PEAK = 2e-3  # peak learning rate of the cosine schedule (Adam)
SCHEDULES = ("cosine", "plateau")
# the data sets of a model for each kind of frame: (training name, varied name, test name)
DATASET_NAMES = {"damic-2020": ("training", "varied", "test"), "damic-m": ("skipper_training", "skipper_varied",
                                                                          "skipper_test")}



@dataclass(frozen=True)
class TrainingSettings:
    """What to train and on what: every option of `train.py` in one place."""

    preset: str = "default"
    model_name: str = "unet"
    detector: str = "damic-2020"  # the kind of frame the model is for (damic-m: skipper CCDs)
    epochs: int = 6  # of `steps_per_epoch` steps: 800 steps of 16 crops of 64 px, then 400 of 2 crops of 256 px
    batch_size: int = 2  # crops (or whole frames, crop_px None) per training step
    crop_px: int | None = 256  # side of the training crops (256: a whole training frame); None: whole frames
    steps_per_epoch: int | None = 200  # with crops; None, or whole frames: one pass over the frames
    object_share: float = 0.5  # share of crops centred on an object (glowing, hot pixel, cluster)
    small_crop_epochs: int = 4  # first epochs on small crops, half a full step's pixels a step (crops only)
    small_crop_px: int = 64  # side of those small crops
    schedule: str = "cosine"  # learning rate: warm-up then cosine decay, or the original's ReduceLROnPlateau
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
        """The input normalisation: with the matched-filter channel, the frame alone, or raw ADU.

        Skipper frames (`detector` damic-m) are normalised row by row
        (`row-asinh`: pedestal drift, dark current rising with the row);
        frames of the 2020 kind as the models before them (`robust-asinh`).
        """
        if self.raw_adu:
            return dict(ADU_NORMALISATION)
        if self.detector == "damic-m":
            return dict(MATCHED_ROW_NORMALISATION if self.matched_filter else ROW_NORMALISATION)
        return dict(MATCHED_NORMALISATION if self.matched_filter else NORMALISATION)

    @property
    def decision(self) -> dict:
        """The decision rule written in the card: `SKIPPER_DECISION` for skipper frames, `DECISION` with the
        matched filter, else the most likely class."""
        if self.detector == "damic-m":
            return dict(SKIPPER_DECISION)
        return dict(DECISION) if self.matched_filter else {}

    @property
    def symmetries(self) -> str:
        """The crops' symmetries: a square's 8 for 2020 frames, a flip of the rows for skipper frames."""
        return "rows" if self.detector == "damic-m" else "square"


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
    test_backgrounds: list = field(default_factory=list)  # the test frames' backgrounds (row-asinh), for the decision


# %% Stages of a run
def prepare_data(settings: TrainingSettings, workdir: Path) -> TrainingData:
    """Load or simulate the training, robustness and test sets; targets, split, augmentation, normalisation.

    The sets of the model's `detector` (`DATASET_NAMES`): for damic-2020
    the user's training set, varied physics of the 2020 kind and the test
    set; for damic-m skipper frames of the DAMIC-M preset, frames of the
    whole DAMIC-M range, and a test set of that range.
    """
    train_dir, test_dir = workdir / "Images" / "Train", workdir / "Images" / "Test"
    seed, names, skipper = settings.seed, DATASET_NAMES[settings.detector], settings.detector == "damic-m"
    images, truth, provenance = load_or_simulate(train_dir, names[0], settings.train_count, seed + 1,
                                                 layout=settings.layout, detector=settings.detector)
    provenances = {names[0]: provenance}
    if settings.varied_count > 0:
        varied = load_or_simulate(train_dir, names[1], settings.varied_count, seed + 3, vary_physics=True,
                                  layout=settings.layout, detector=settings.detector)
        images, truth = np.concatenate([images, varied[0]]), np.concatenate([truth, varied[1]])
        provenances[names[1]] = varied[2]
    test_images, test_truth, provenances[names[2]] = load_or_simulate(
        test_dir, names[2], settings.test_count, seed + 2, vary_physics=skipper, layout=settings.layout,
        detector=settings.detector)
    targets = make_targets(images, truth, settings.labels)
    fit_idx, val_idx = split_validation(len(images), settings.validation_split, seed)
    if settings.augment:
        extra_images, extra_targets = augment_frames(images[fit_idx], targets[fit_idx], seed=seed)
        fit_idx = np.concatenate([fit_idx, len(images) + np.arange(len(extra_images))])
        images, targets = np.concatenate([images, extra_images]), np.concatenate([targets, extra_targets])
    test_backgrounds: list = []
    return TrainingData(
        images=images,
        targets=targets,
        normalised=normalise_frames(images, settings.normalisation),
        fit_idx=fit_idx,
        val_idx=val_idx,
        test_images=test_images,
        test_truth=test_truth,
        test_normalised=normalise_frames(test_images, settings.normalisation, backgrounds=test_backgrounds),
        provenance=provenances,
        test_backgrounds=test_backgrounds,
    )


def build_model(settings: TrainingSettings, data: TrainingData, distribute: bool = False):
    """Class weights from the fitted frames' targets and the compiled U-Net of the preset; returns (model, weights)."""
    import tensorflow as tf

    weighting = settings.weighting or unet.PRESETS[settings.preset]["weighting"]
    weights = get_weights(data.targets[data.fit_idx], weighting)
    print(f"class weights ({weighting}): " + ", ".join(f"{n} {w:.3g}" for n, w in zip(CLASS_NAMES, weights)))
    strategy = tf.distribute.MirroredStrategy() if distribute else tf.distribute.get_strategy()
    with strategy.scope():
        model = build_preset(settings.preset, weights=weights, learning_rate=learning_rate(settings, data),
                             channels=input_channels(settings.normalisation))
    return model, weights


def total_steps(settings: TrainingSettings, data: TrainingData) -> int:
    """Training steps of the whole fit: epochs x steps per epoch (whole frames: one pass over the fitted frames,
    whatever `steps_per_epoch` says)."""
    one_pass = -(-len(data.fit_idx) // settings.batch_size)
    steps = one_pass if settings.crop_px is None else settings.steps_per_epoch or one_pass
    return settings.epochs * steps


def learning_rate(settings: TrainingSettings, data: TrainingData):
    """The optimiser's learning rate: the preset's (or `settings.learning_rate`), or a warm-up and cosine decay.

    'cosine' rises over the first 5 % of the steps from a tenth of the peak
    (`settings.learning_rate`, default `COSINE_PEAK`) to it, then decays
    along a cosine to 1 % of it at the last step: a fit of a few epochs
    that ends converged, where the original waited for plateaus.
    """
    if settings.schedule == "plateau":
        return settings.learning_rate
    peak, steps = settings.learning_rate or COSINE_PEAK, total_steps(settings, data)
    return keras.optimizers.schedules.CosineDecay(0.1 * peak, steps, alpha=0.01, warmup_target=peak,
                                                  warmup_steps=max(1, steps // 20))


def step_pixels(settings: TrainingSettings, data: TrainingData) -> list[int]:
    """Pixels one training step computes, per epoch: small crops in the first `small_crop_epochs`, whole
    frames if no crops."""
    if settings.crop_px is None:
        return [settings.batch_size * int(np.prod(data.normalised.shape[1:3]))] * settings.epochs
    shapes = [epoch_crops(epoch, settings.batch_size, settings.crop_px, settings.small_crop_epochs,
                          settings.small_crop_px) for epoch in range(settings.epochs)]
    return [count * side**2 for side, count in shapes]


def fit_data(settings: TrainingSettings, data: TrainingData):
    """The training batches: crops (`crops.CropBatches`) or whole frames (`training_data.training_dataset`), with their loss weights."""
    fit = data.fit_idx
    pixel_weights = overlap_weights(data.targets[fit], settings.overlap_weight)
    pixel_weights *= small_cluster_weights(data.targets[fit], settings.small_cluster_weight)
    if settings.crop_px is None:
        return training_dataset(data.normalised[fit], data.targets[fit], settings.batch_size, settings.seed,
                                pixel_weights)
    return CropBatches(data.normalised[fit], data.targets[fit], settings.batch_size,
                       total_steps(settings, data) // settings.epochs, settings.seed, pixel_weights, settings.crop_px,
                       settings.object_share, settings.symmetries, settings.small_crop_epochs, settings.small_crop_px)


def fit_model(model, data: TrainingData, settings: TrainingSettings, paths: RunPaths, weights: np.ndarray) -> dict:
    """Fit with the original's callbacks (and BackupAndRestore); return what the fit did.

    The validation frames are scored once an epoch (`validation_callback`:
    loss and F1 from one prediction) from the first epoch of large crops:
    with the cosine schedule the small-crop epochs, at a high learning
    rate, are not scored (4 s an epoch under AVX2 here); a progress bar runs over the whole fit
    with the time left. An interrupted run resumes from its backup: the
    epochs and seconds of every part are counted (`progress.json` in the
    backup folder). The weights kept are those of the epoch with the lowest
    validation loss (EarlyStopping restores them), and the returned record
    says which.
    """
    progress_path = paths.backup / "progress.json"
    earlier = json.loads(progress_path.read_text()) if progress_path.is_file() else {"seconds": 0.0}
    started = time.time()

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            paths.backup.mkdir(parents=True, exist_ok=True)
            save_text(progress_path, json.dumps({"seconds": earlier["seconds"] + time.time() - started,
                                                 "epochs": epoch + 1}), force=True)

    history: list[dict] = []
    scored_from = 0
    if settings.crop_px is not None and settings.schedule == "cosine":
        scored_from = min(settings.small_crop_epochs, settings.epochs - 1)
    callbacks = [
        validation_callback(data.normalised[data.val_idx], data.targets[data.val_idx], weights, history, scored_from),
        progress_callback(total_steps(settings, data) // settings.epochs, step_pixels(settings, data)),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=16, restore_best_weights=True,
                                      start_from_epoch=scored_from),
        keras.callbacks.ModelCheckpoint(paths.partial_model, monitor="val_loss", save_best_only=True),
        keras.callbacks.CSVLogger(paths.log, append=paths.backup.exists()),
        keras.callbacks.BackupAndRestore(str(paths.backup)),
        Progress(),
    ]
    if settings.schedule == "plateau":
        callbacks.insert(3, keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=5))
    batches, steps = fit_data(settings, data), None
    if isinstance(batches, CropBatches):  # one stream from the epoch a resumed run starts at
        batches, steps = batches.dataset(settings.epochs, earlier.get("epochs", 0)), len(batches)
    model.fit(batches, epochs=settings.epochs, steps_per_epoch=steps, callbacks=callbacks, verbose=0, shuffle=False)
    with open(paths.log) as handle:
        losses = [float(row["val_loss"]) for row in csv.DictReader(handle)]
    best = int(np.nanargmin(losses))
    print(f"kept the weights of epoch {best + 1} of {len(losses)}, the lowest validation loss ({losses[best]:.4f});"
          " the test scores below are that epoch's")
    return {"epochs_run": len(losses), "best_epoch": best + 1, "fit_seconds": earlier["seconds"] + time.time() - started,
            "resumed": bool(earlier["seconds"]), "steps": total_steps(settings, data)}


def replace_settings(settings: TrainingSettings, overrides: dict) -> TrainingSettings:
    """`settings` with some fields replaced; an unknown field name raises `UserInputError`."""
    unknown = set(overrides) - set(asdict(settings))
    if unknown:
        raise UserInputError(f"unknown training settings: {', '.join(sorted(unknown))}")
    return TrainingSettings(**{**asdict(settings), **overrides})
