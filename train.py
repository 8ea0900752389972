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
import time
from pathlib import Path

from ccdseg.core import paths as repo_paths
from ccdseg.core.errors import UserInputError, quiet_native_logs, run_command
from ccdseg.core.safe_write import refuse_existing
from ccdseg.evaluate.training_report import evaluate_and_save
from ccdseg.model.training import (
    DETECTORS,
    SCHEDULES,
    TrainingSettings,
    build_model,
    fit_model,
    prepare_data,
    replace_settings,
)
from ccdseg.model.training_outputs import RunPaths
from ccdseg.model.unet import PRESETS

# %% Settings - edit here when running top to bottom in Spyder (the defaults are `TrainingSettings`')
_DEFAULTS = TrainingSettings()
PRESET = _DEFAULTS.preset
MODEL_NAME = _DEFAULTS.model_name
DETECTOR = _DEFAULTS.detector  # damic-2020 (the original's frames) or damic-m (skipper CCDs)
EPOCHS = _DEFAULTS.epochs
BATCH_FRAMES = _DEFAULTS.batch_size  # crops (or whole frames) per training step
CROP_PX = _DEFAULTS.crop_px  # None: whole frames, as the original
STEPS_PER_EPOCH = _DEFAULTS.steps_per_epoch  # crops only: whole frames take one pass an epoch
OBJECT_SHARE = _DEFAULTS.object_share  # share of the crops centred on an object
SMALL_CROP_EPOCHS = _DEFAULTS.small_crop_epochs  # first epochs on small crops (half a full step's pixels a step)
SMALL_CROP_PX = _DEFAULTS.small_crop_px  # side of those small crops
SCHEDULE = _DEFAULTS.schedule
TRAIN_COUNT = _DEFAULTS.train_count
VARIED_COUNT = _DEFAULTS.varied_count
TEST_COUNT = _DEFAULTS.test_count
VALIDATION_SPLIT = _DEFAULTS.validation_split
LEARNING_RATE = _DEFAULTS.learning_rate
SEED = _DEFAULTS.seed
LABELS = _DEFAULTS.labels
AUGMENT = _DEFAULTS.augment
MATCHED_FILTER = _DEFAULTS.matched_filter
LAYOUT = _DEFAULTS.layout


# %% Training
def settings_block() -> TrainingSettings:
    """The training settings of this file's Settings block, read now (so edits made in Spyder count)."""
    return TrainingSettings(
        preset=PRESET, model_name=MODEL_NAME, detector=DETECTOR, epochs=EPOCHS, batch_size=BATCH_FRAMES,
        crop_px=CROP_PX, steps_per_epoch=STEPS_PER_EPOCH, object_share=OBJECT_SHARE, small_crop_epochs=SMALL_CROP_EPOCHS,
        small_crop_px=SMALL_CROP_PX, schedule=SCHEDULE,
        train_count=TRAIN_COUNT,
        varied_count=VARIED_COUNT, test_count=TEST_COUNT, seed=SEED, labels=LABELS, augment=AUGMENT,
        learning_rate=LEARNING_RATE, matched_filter=MATCHED_FILTER, layout=LAYOUT, validation_split=VALIDATION_SPLIT,
    )


def train(settings: TrainingSettings | None = None, *, workdir: Path | None = None, force: bool = False,
          distribute: bool = False, show: bool = True, **overrides) -> dict:
    """Train, evaluate and save `Models/NAME.keras`, `.log` and `.json`; return the card.

    settings : a `TrainingSettings` (default: this file's Settings block), with
        `overrides` (its field names as keywords) applied on top.
    workdir : where `Images/` and `Models/` live (default: the repository).
    """
    import keras
    import tensorflow as tf

    settings = replace_settings(settings or settings_block(), overrides)
    for option, value, least in (("--epochs", settings.epochs, 1), ("--batch-size", settings.batch_size, 1),
                                 ("--train-count", settings.train_count, 1), ("--test-count", settings.test_count, 1),
                                 ("--varied-count", settings.varied_count, 0)):
        if value < least:
            raise UserInputError(f"{option} must be at least {least}, not {value}")
    if settings.raw_adu and settings.matched_filter:
        raise UserInputError("--raw-adu gives the network the frame in ADU alone: add --no-matched-filter")
    check_settings(settings)
    paths = RunPaths(Path(workdir or repo_paths.REPO), settings.model_name)
    refuse_existing([paths.model, paths.card], force, " or choose --model-name")
    paths.model.parent.mkdir(parents=True, exist_ok=True)
    paths.figures.mkdir(parents=True, exist_ok=True)
    started = time.time()
    keras.utils.set_random_seed(settings.seed)
    tf.config.experimental.enable_op_determinism()

    data = prepare_data(settings, paths.workdir)
    model, weights = build_model(settings, data, distribute)
    fit_started = time.time()
    fitted = fit_model(model, data, settings, paths, weights)
    record = {"weights": weights, **fitted, "train_seconds": fitted["fit_seconds"] + fit_started - started}
    card = evaluate_and_save(model, data, settings, paths, record, show)
    print(f"saved {paths.model}, {paths.card.name}, {paths.log.name}; figures in {paths.figures}"
          f" ({record['train_seconds']:.0f} s)")
    return card


def check_settings(settings: TrainingSettings) -> None:
    """Raise `UserInputError` naming the first option that cannot be (besides the counts checked in `train`)."""
    if settings.preset not in PRESETS:
        raise UserInputError(f"--preset must be one of {', '.join(PRESETS)}, not {settings.preset!r}")
    if settings.detector not in DETECTORS:
        raise UserInputError(f"--detector must be one of {', '.join(DETECTORS)}, not {settings.detector!r}")
    if settings.schedule not in SCHEDULES:
        raise UserInputError(f"--schedule must be one of {', '.join(SCHEDULES)}, not {settings.schedule!r}")
    if settings.crop_px is not None and (settings.crop_px < 16 or settings.crop_px % 8):
        raise UserInputError(f"--crop must be 0 (whole frames) or a multiple of 8 of at least 16 px, not {settings.crop_px}")
    if settings.steps_per_epoch is not None and settings.steps_per_epoch < 1:
        raise UserInputError(f"--steps-per-epoch must be at least 1, not {settings.steps_per_epoch}")
    if not 0.0 <= settings.object_share <= 1.0:
        raise UserInputError(f"--object-share must be 0..1, not {settings.object_share}")
    if settings.small_crop_epochs < 0:
        raise UserInputError(f"--small-crop-epochs must be at least 0, not {settings.small_crop_epochs}")
    if settings.crop_px and settings.small_crop_epochs and not (
            16 <= settings.small_crop_px <= settings.crop_px and settings.small_crop_px % 8 == 0):
        raise UserInputError(f"--small-crop must be a multiple of 8 px from 16 to --crop ({settings.crop_px}),"
                             f" not {settings.small_crop_px}")


# %% Command line
def build_parser() -> argparse.ArgumentParser:
    """The command line of `train.py`, its defaults this file's Settings block as it is now."""
    library_defaults = TrainingSettings()  # the loss weights' defaults, as they are now
    parser = argparse.ArgumentParser(description="Train the CCD segmentation U-Net.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", default=PRESET, choices=sorted(PRESETS), help="network and loss settings")
    parser.add_argument("--model-name", default=MODEL_NAME, help="saved as Models/NAME.keras, .json, .log")
    parser.add_argument("--detector", default=DETECTOR, choices=DETECTORS,
                        help="the kind of frame the model is for: its training data, normalisation and decision rule")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="most epochs (early stopping may end sooner)")
    parser.add_argument("--batch-size", type=int, default=BATCH_FRAMES, help="crops (or whole frames) per training step")
    parser.add_argument("--crop", type=int, default=CROP_PX or 0,
                        help="side of the training crops, px (0: whole frames)")
    parser.add_argument("--object-share", type=float, default=OBJECT_SHARE,
                        help="share of the crops centred on an object (glowing, hot pixel, cluster), 0..1")
    parser.add_argument("--small-crop-epochs", type=int, default=SMALL_CROP_EPOCHS,
                        help="first epochs on small crops, as many a step as hold half a full step's pixels"
                             " (half the arithmetic); whole frames (--crop 0): none")
    parser.add_argument("--small-crop", type=int, default=SMALL_CROP_PX, help="side of those small crops, px")
    parser.add_argument("--steps-per-epoch", type=int, default=STEPS_PER_EPOCH or 0,
                        help="training steps an epoch, with crops (whole frames: one pass over them)")
    parser.add_argument("--schedule", choices=SCHEDULES, default=SCHEDULE,
                        help="learning rate: warm-up and cosine decay, or the original's ReduceLROnPlateau")
    parser.add_argument("--train-count", type=int, default=TRAIN_COUNT, help="frames simulated if none exist")
    parser.add_argument("--varied-count", type=int, default=VARIED_COUNT, help="robustness frames (0: none)")
    parser.add_argument("--test-count", type=int, default=TEST_COUNT, help="test frames simulated if none exist")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of data, weights and shuffling")
    parser.add_argument("--labels", choices=("truth", "thresholds"), default=LABELS,
                        help="learn the exact truth or the original's threshold labels")
    parser.add_argument("--augment", action="store_true", help="add an augmented copy of the training set")
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE,
                        help="peak of the cosine schedule (default 0.002), or the optimiser's (plateau)")
    parser.add_argument("--workdir", type=Path, default=repo_paths.REPO, help="where Images/ and Models/ live")
    parser.add_argument("--distribute", action="store_true", help="train on all local GPUs (MirroredStrategy)")
    parser.add_argument("--overlap-weight", type=float, default=library_defaults.overlap_weight,
                        help="loss weight of cluster pixels on glowing regions (1: none)")
    parser.add_argument("--small-cluster-weight", type=float, default=library_defaults.small_cluster_weight,
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Train a model from the command line (or top to bottom in Spyder)."""
    args = build_parser().parse_args(argv)
    settings = TrainingSettings(
        preset=args.preset,
        model_name=args.model_name,
        detector=args.detector,
        epochs=args.epochs,
        batch_size=args.batch_size,
        crop_px=args.crop or None,
        steps_per_epoch=args.steps_per_epoch or None,
        object_share=args.object_share,
        small_crop_epochs=args.small_crop_epochs,
        small_crop_px=args.small_crop,
        schedule=args.schedule,
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
        validation_split=VALIDATION_SPLIT,
    )
    return run_command(
        lambda: train(settings, workdir=args.workdir, force=args.force, distribute=args.distribute) and None,
        "interrupted; run the same command again to resume from the last finished epoch",
    )

if __name__ == "__main__":
    quiet_native_logs()
    raise SystemExit(main())
