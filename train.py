"""Train the U-Net on simulated frames, evaluate it, and save the model with its card.

    python train.py                       # default preset, simulates data if missing
    python train.py --preset original --model-name original --epochs 100

The original's flow: load the training and test sets, make masks (from the
exact truth, or from thresholds with `--labels thresholds`), optional
augmentation, class weights, build, fit with EarlyStopping, ReduceLROnPlateau,
ModelCheckpoint, CSVLogger (and BackupAndRestore, so an interrupted run
resumes), then learning curves, prediction figures, confusion matrix,
classification report and an evaluation on the test set.

Besides the user's training set (`Images/Train/training_*`), a robustness set
(`Images/Train/varied_*`, each frame with its own pedestal, noise, gain and
intensities) is simulated if missing and trained on too, so the model learns
shapes and contrasts rather than one simulator setting.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from classes import CLASS_NAMES, to_one_hot
from errors import UserInputError, quiet_native_logs, run_command
from safe_write import refuse_existing, save_text
from scoring import classification_report, score_labels
from training_data import (
    OVERLAP_WEIGHT,
    SMALL_CLUSTER_WEIGHT,
    load_or_simulate,
    make_targets,
    overlap_weights,
    small_cluster_weights,
    split_validation,
    training_dataset,
)
from training_outputs import RunPaths, draw_run_figures, f1_callback

# %% Settings - edit here when running top to bottom in Spyder
REPO = Path(__file__).resolve().parent
PRESET = "default"
MODEL_NAME = "unet"
EPOCHS = 15
BATCH_SIZE = 8
TRAIN_COUNT = 200
VARIED_COUNT = 200
TEST_COUNT = 42
VALIDATION_SPLIT = 0.21
LEARNING_RATE = None
SEED = 0
LABELS = "truth"
AUGMENT = False
MATCHED_FILTER = True
LAYOUT = "mixed"
# how probabilities become classes, written into the card (decision.py); the matched rule needs MATCHED_FILTER
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

    preset: str = PRESET
    model_name: str = MODEL_NAME
    epochs: int = EPOCHS
    batch_size: int = BATCH_SIZE
    train_count: int = TRAIN_COUNT
    varied_count: int = VARIED_COUNT
    test_count: int = TEST_COUNT
    seed: int = SEED
    labels: str = LABELS
    augment: bool = AUGMENT
    learning_rate: float | None = LEARNING_RATE
    overlap_weight: float = OVERLAP_WEIGHT
    small_cluster_weight: float = SMALL_CLUSTER_WEIGHT
    matched_filter: bool = MATCHED_FILTER
    layout: str = LAYOUT
    weighting: str | None = None  # class weights of the loss; None: the preset's
    raw_adu: bool = False  # feed frames in ADU as the original did, not normalised per frame

    @property
    def normalisation(self) -> dict:
        """The input normalisation: with the matched-filter channel, the frame alone, or raw ADU."""
        from normalisation import ADU_NORMALISATION, MATCHED_NORMALISATION, NORMALISATION

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
    from normalisation import normalise_frames

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
    fit_idx, val_idx = split_validation(len(images), VALIDATION_SPLIT, seed)
    if settings.augment:
        from augmentation import augment as augment_frames

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

    import models
    from load_dataset import get_weights
    from normalisation import input_channels

    weighting = settings.weighting or models.PRESETS[settings.preset]["weighting"]
    weights = get_weights(data.targets[data.fit_idx], weighting)
    print(f"class weights ({weighting}): " + ", ".join(f"{n} {w:.3g}" for n, w in zip(CLASS_NAMES, weights)))
    strategy = tf.distribute.MirroredStrategy() if distribute else tf.distribute.get_strategy()
    with strategy.scope():
        model = models.build_preset(settings.preset, weights=weights, learning_rate=settings.learning_rate,
                                    channels=input_channels(settings.normalisation))
    return model, weights


def fit_model(model, data: TrainingData, settings: TrainingSettings, paths: RunPaths) -> dict:
    """Fit with the original's callbacks (and BackupAndRestore); return what the fit did.

    An interrupted run resumes from its backup: the epochs and seconds of
    every part are counted (`progress.json` in the backup folder). The
    weights kept are those of the epoch with the lowest validation loss
    (EarlyStopping restores them), and the returned record says which.
    """
    import keras

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
    import csv

    with open(paths.log) as handle:
        losses = [float(row["val_loss"]) for row in csv.DictReader(handle)]
    best = int(np.argmin(losses))
    print(f"kept the weights of epoch {best + 1} of {len(losses)}, the lowest validation loss ({losses[best]:.4f});"
          " the test scores below are that epoch's")
    return {"epochs_run": len(losses), "best_epoch": best + 1, "fit_seconds": earlier["seconds"] + time.time() - started,
            "resumed": bool(earlier["seconds"])}


def evaluate_and_save(model, data: TrainingData, settings: TrainingSettings, paths: RunPaths, record: dict,
                      show: bool = True) -> dict:
    """Score the test set, save the model, its card, report and figures; return the card.

    record : what the run measured so far (weights, epochs, seconds).
    """
    import tensorflow as tf

    import models
    from segmenter import Segmenter

    segmenter = Segmenter(model, {"depth": models.PRESETS[settings.preset]["depth"], "decision": settings.decision,
                                  "normalisation": settings.normalisation})
    prediction = segmenter.decide(segmenter.predict_normalised(data.test_normalised), data.test_normalised)
    scores = score_labels(prediction, data.test_truth)
    report = classification_report(prediction, data.test_truth)
    test_loss = float(model.evaluate(data.test_normalised, to_one_hot(data.test_truth),
                                     batch_size=settings.batch_size, verbose=0)[0])
    print(f"test loss {test_loss:.4f}\n{report}")
    card = {
        "name": settings.model_name,
        "preset": settings.preset,
        "architecture": dict(models.PRESETS[settings.preset]),
        "depth": models.PRESETS[settings.preset]["depth"],
        "normalisation": settings.normalisation,
        "decision": settings.decision,
        "class_names": list(CLASS_NAMES),
        "class_weights": [float(w) for w in record["weights"]],
        "weighting": settings.weighting or models.PRESETS[settings.preset]["weighting"],
        "labels": settings.labels,
        "augment": settings.augment,
        "overlap_weight": settings.overlap_weight,
        "small_cluster_weight": settings.small_cluster_weight,
        "matched_filter": settings.matched_filter,
        "epochs_run": record["epochs_run"],
        "best_epoch": record["best_epoch"],
        "resumed": record["resumed"],
        "batch_size": settings.batch_size,
        "seed": settings.seed,
        "data": data.provenance,
        "train_seconds": round(record["train_seconds"], 1),
        "test": {"loss": test_loss, "scores": scores, "frames": int(len(data.test_images))},
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()}, TensorFlow {tf.__version__}",
    }
    model.save(paths.partial_model)
    paths.partial_model.replace(paths.model)
    save_text(paths.card, json.dumps(card, indent=2), force=True)
    shutil.rmtree(paths.backup, ignore_errors=True)
    save_text(paths.figures / "classification_report.txt", f"test loss {test_loss:.4f}\n{report}", force=True)
    draw_run_figures(model, data, prediction, paths, settings.seed, show)
    return card


# %% Training
def train(settings: TrainingSettings | None = None, *, workdir: Path = REPO, force: bool = False,
          distribute: bool = False, show: bool = True, **overrides) -> dict:
    """Train, evaluate and save `Models/NAME.keras`, `.log` and `.json`; return the card.

    settings : a `TrainingSettings` (default: this file's settings), with
        `overrides` (its field names as keywords) applied on top.
    """
    import keras
    import tensorflow as tf

    import models

    settings = replace_settings(settings or TrainingSettings(), overrides)
    for option, value, least in (("--epochs", settings.epochs, 1), ("--batch-size", settings.batch_size, 1),
                                 ("--train-count", settings.train_count, 1), ("--test-count", settings.test_count, 1),
                                 ("--varied-count", settings.varied_count, 0)):
        if value < least:
            raise UserInputError(f"{option} must be at least {least}, not {value}")
    if settings.raw_adu and settings.matched_filter:
        raise UserInputError("--raw-adu gives the network the frame in ADU alone: add --no-matched-filter")
    if settings.preset not in models.PRESETS:
        raise UserInputError(f"--preset must be one of {', '.join(models.PRESETS)}, not {settings.preset!r}")
    paths = RunPaths(Path(workdir), settings.model_name)
    refuse_existing([paths.model, paths.card], force, " or choose --model-name")
    paths.model.parent.mkdir(parents=True, exist_ok=True)
    paths.figures.mkdir(parents=True, exist_ok=True)
    started = time.time()
    keras.utils.set_random_seed(settings.seed)
    tf.config.experimental.enable_op_determinism()

    data = prepare_data(settings, paths.workdir)
    model, weights = build_model(settings, data, distribute)
    fit_started = time.time()
    fitted = fit_model(model, data, settings, paths)
    record = {"weights": weights, **fitted, "train_seconds": fitted["fit_seconds"] + fit_started - started}
    card = evaluate_and_save(model, data, settings, paths, record, show)
    print(f"saved {paths.model}, {paths.card.name}, {paths.log.name}; figures in {paths.figures}"
          f" ({record['train_seconds']:.0f} s)")
    return card


def replace_settings(settings: TrainingSettings, overrides: dict) -> TrainingSettings:
    """`settings` with some fields replaced; an unknown field name raises `UserInputError`."""
    unknown = set(overrides) - set(asdict(settings))
    if unknown:
        raise UserInputError(f"unknown training settings: {', '.join(sorted(unknown))}")
    return TrainingSettings(**{**asdict(settings), **overrides})


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Train a model from the command line (or top to bottom in Spyder)."""
    parser = argparse.ArgumentParser(description="Train the CCD segmentation U-Net.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", default=PRESET, choices=("default", "original"), help="network and loss settings")
    parser.add_argument("--model-name", default=MODEL_NAME, help="saved as Models/NAME.keras, .json, .log")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="most epochs (early stopping may end sooner)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="frames per training step")
    parser.add_argument("--train-count", type=int, default=TRAIN_COUNT, help="frames simulated if none exist")
    parser.add_argument("--varied-count", type=int, default=VARIED_COUNT, help="robustness frames (0: none)")
    parser.add_argument("--test-count", type=int, default=TEST_COUNT, help="test frames simulated if none exist")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of data, weights and shuffling")
    parser.add_argument("--labels", choices=("truth", "thresholds"), default=LABELS,
                        help="learn the exact truth or the original's threshold labels")
    parser.add_argument("--augment", action="store_true", help="add an augmented copy of the training set")
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE, help="the optimiser's default if none")
    parser.add_argument("--workdir", type=Path, default=REPO, help="where Images/ and Models/ live")
    parser.add_argument("--distribute", action="store_true", help="train on all local GPUs (MirroredStrategy)")
    parser.add_argument("--overlap-weight", type=float, default=OVERLAP_WEIGHT,
                        help="loss weight of cluster pixels on glowing regions (1: none)")
    parser.add_argument("--small-cluster-weight", type=float, default=SMALL_CLUSTER_WEIGHT,
                        help="loss weight of pixels of clusters of at most 6 px, the faint signal (1: none)")
    parser.add_argument("--weighting", choices=("inverse", "sqrt", "none"), default=None,
                        help="class weights of the loss (default: the preset's: original inverse, default none)")
    parser.add_argument("--layout", choices=("mixed", "banded"), default=LAYOUT,
                        help="layout of frames simulated when none exist ('banded': the original's)")
    parser.add_argument("--no-matched-filter", action="store_true",
                        help="give the network the frame alone, without the matched-filter channel")
    parser.add_argument("--raw-adu", action="store_true",
                        help="feed the frames in ADU as the original did, without the per-frame normalisation")
    parser.add_argument("--force", action="store_true", help="overwrite a model of the same name")
    args = parser.parse_args(argv)
    settings = TrainingSettings(
        preset=args.preset,
        model_name=args.model_name,
        epochs=args.epochs,
        batch_size=args.batch_size,
        train_count=args.train_count,
        varied_count=args.varied_count,
        test_count=args.test_count,
        seed=args.seed,
        labels=args.labels,
        augment=args.augment,
        learning_rate=args.learning_rate,
        overlap_weight=args.overlap_weight,
        small_cluster_weight=args.small_cluster_weight,
        matched_filter=not args.no_matched_filter,
        layout=args.layout,
        weighting=args.weighting,
        raw_adu=args.raw_adu,
    )
    return run_command(
        lambda: train(settings, workdir=args.workdir, force=args.force, distribute=args.distribute) and None,
        "interrupted; run the same command again to resume from the last finished epoch",
    )

if __name__ == "__main__":
    quiet_native_logs()
    raise SystemExit(main())
