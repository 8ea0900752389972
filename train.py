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
import sys
import time
from pathlib import Path

import numpy as np

from mask import (
    CLASS_NAMES,
    CLUSTER,
    GLOWING,
    N_CLASSES,
    UserInputError,
    classification_report,
    confusion,
    finish_figure,
    get_class,
    score_labels,
    visualize_label,
)

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
OVERLAP_WEIGHT = 10.0
OVERLAP_RADIUS_PX = 4


# %% Data
def load_or_simulate(folder: Path, name: str, count: int, seed: int, vary_physics: bool = False):
    """Load NAME_data/NAME_truth from `folder`, simulating and saving them first if missing."""
    from image_simulation import save_dataset, simulate_dataset
    from load_dataset import load_npy_pair

    if not (folder / f"{name}_data.npy").exists() and not (folder / f"{name}_truth.npy").exists():
        print(f"simulating {count} frames for {folder / name}_* (seed {seed})")
        images, truth = simulate_dataset(count, seed, vary_physics=vary_physics)
        save_dataset(images, truth, folder, name)
        return images, truth, {"simulated": True, "count": count, "seed": seed, "vary_physics": vary_physics}
    images, truth = load_npy_pair(folder, name)
    return images, truth, {"simulated": False, "count": int(len(images)), "path": str(folder / name)}


def make_targets(images: np.ndarray, truth: np.ndarray, labels: str) -> np.ndarray:
    """Class ids to learn: the exact truth, or the original's threshold labels."""
    if labels == "truth":
        return truth
    if labels == "thresholds":
        return get_class(images, estimate_background=True)
    raise UserInputError(f"--labels must be 'truth' or 'thresholds', not {labels!r}")


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled indices of training and validation frames."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction))) if n > 1 else 0
    return order[n_val:], order[:n_val]


def overlap_weights(targets: np.ndarray, weight: float = OVERLAP_WEIGHT, radius_px: int = OVERLAP_RADIUS_PX) -> np.ndarray:
    """Per-pixel loss weights (n, h, w) float32: clusters on glowing regions count `weight` times.

    A cluster on top of amplifier glow must be told from the glow level around
    it. Such pixels are rare (about 0.1 % of all) and hard, and with plain
    cross-entropy a model learns to call them all glowing. A cluster pixel
    counts as on glow when a glowing pixel lies within `radius_px`.
    """
    from scipy import ndimage

    size = (1, 2 * radius_px + 1, 2 * radius_px + 1)
    near_glow = ndimage.maximum_filter(np.asarray(targets) == GLOWING, size=size[-targets.ndim:])
    weights = np.ones(targets.shape, dtype=np.float32)
    weights[(targets == CLUSTER) & near_glow] = weight
    return weights


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, pixel_weights: np.ndarray | None = None):
    """tf.data pipeline: shuffle, random flips and 90-degree turns, one-hot targets.

    With `pixel_weights` (n, h, w) the batches carry them as per-pixel sample weights.
    """
    import tensorflow as tf

    weighted = pixel_weights is not None
    channels = [x[..., None], y[..., None].astype(np.float32)]
    if weighted:
        channels.append(pixel_weights[..., None].astype(np.float32))
    stacked_frames = np.concatenate(channels, axis=-1)

    def turn(stacked):
        stacked = tf.image.rot90(stacked, tf.random.uniform([], 0, 4, dtype=tf.int32, seed=seed))
        stacked = tf.image.random_flip_left_right(stacked, seed=seed)
        image, target = stacked[..., :1], tf.one_hot(tf.cast(stacked[..., 1], tf.uint8), N_CLASSES)
        return (image, target, stacked[..., 2]) if weighted else (image, target)

    data = tf.data.Dataset.from_tensor_slices(stacked_frames)
    data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return data.map(turn, num_parallel_calls=1, deterministic=True).batch(batch_size).prefetch(2)


# %% Callbacks and figures
def f1_callback(x_val: np.ndarray, y_val: np.ndarray, history: list[dict]):
    """A Keras callback adding per-class validation F1 to the logs after each epoch."""
    import keras

    from load_model import predict_normalised

    class ValidationF1(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            probabilities = predict_normalised(self.model, x_val, batch_size=8)
            scores = score_labels(np.argmax(probabilities, axis=-1), y_val)
            entry = {f"val_f1_{name.replace(' ', '_')}": scores[name]["f1"] for name in CLASS_NAMES}
            history.append(entry)
            if logs is not None:
                logs.update(entry)
            print(" - " + ", ".join(f"{k[7:]} {v:.3f}" for k, v in entry.items()))

    return ValidationF1()


def plot_learning_curves(log_path: Path, path: Path, show: bool = True) -> None:
    """Loss, accuracy and per-class validation F1 per epoch, from the CSV log."""
    import csv

    import matplotlib.pyplot as plt

    from mask import CLASS_COLOURS

    with open(log_path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in rows[0]:
            axes[0].plot(epochs, [float(r[key]) for r in rows], style, label=key)
    for key, style in (("accuracy", "-"), ("val_accuracy", "--")):
        if key in rows[0]:
            axes[1].plot(epochs, [float(r[key]) for r in rows], style, label=key)
    for cid, name in enumerate(CLASS_NAMES):
        key = f"val_f1_{name.replace(' ', '_')}"
        if key in rows[0]:
            colour = np.clip(CLASS_COLOURS[cid], 0, 0.85)
            axes[2].plot(epochs, [float(r[key]) for r in rows], color=colour, label=name)
    for ax, title in zip(axes, ("loss", "accuracy", "validation F1")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
    axes[0].set_yscale("log")
    finish_figure(fig, path, show)


def plot_confusion(matrix: np.ndarray, path: Path, show: bool = True) -> None:
    """Row-normalised confusion matrix (truth rows, prediction columns) with counts."""
    import matplotlib.pyplot as plt

    fraction = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    shown = ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{fraction[i, j]:.3f}\n{value}", ha="center", va="center",
                color="white" if fraction[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(N_CLASSES), CLASS_NAMES, rotation=30)
    ax.set_yticks(range(N_CLASSES), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    fig.colorbar(shown, ax=ax)
    finish_figure(fig, path, show)


# %% Training
def train(
    preset: str = PRESET,
    model_name: str = MODEL_NAME,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    train_count: int = TRAIN_COUNT,
    varied_count: int = VARIED_COUNT,
    test_count: int = TEST_COUNT,
    seed: int = SEED,
    labels: str = LABELS,
    augment: bool = AUGMENT,
    learning_rate: float | None = LEARNING_RATE,
    workdir: Path = REPO,
    force: bool = False,
    distribute: bool = False,
    show: bool = True,
    overlap_weight: float = OVERLAP_WEIGHT,
) -> dict:
    """Train, evaluate and save `Models/NAME.keras`, `.log` and `.json`; return the card."""
    import keras
    import tensorflow as tf

    import models
    from load_dataset import get_weights
    from load_model import predict_normalised

    if epochs < 1 or batch_size < 1:
        raise UserInputError("--epochs and --batch-size must be at least 1")
    if preset not in models.PRESETS:
        raise UserInputError(f"--preset must be one of {', '.join(models.PRESETS)}, not {preset!r}")
    model_dir, out_dir = workdir / "Models", workdir / "Images" / "Outputs" / model_name
    model_path = model_dir / f"{model_name}.keras"
    log_path, card = model_dir / f"{model_name}.log", model_dir / f"{model_name}.json"
    backup_dir = model_dir / f"{model_name}_backup"
    if (model_path.exists() or card.exists()) and not force:
        raise UserInputError(f"{model_path}: exists; use --force to overwrite or choose --model-name")
    model_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

    train_dir, test_dir = workdir / "Images" / "Train", workdir / "Images" / "Test"
    images, truth, provenance = load_or_simulate(train_dir, "training", train_count, seed + 1)
    provenances = {"training": provenance}
    if varied_count > 0:
        varied = load_or_simulate(train_dir, "varied", varied_count, seed + 3, vary_physics=True)
        images, truth = np.concatenate([images, varied[0]]), np.concatenate([truth, varied[1]])
        provenances["varied"] = varied[2]
    test_images, test_truth, provenances["test"] = load_or_simulate(test_dir, "test", test_count, seed + 2)
    targets = make_targets(images, truth, labels)
    fit_idx, val_idx = split_validation(len(images), VALIDATION_SPLIT, seed)
    if augment:
        from augmentation import augment as augment_frames

        extra_images, extra_targets = augment_frames(images[fit_idx], targets[fit_idx], seed=seed)
        fit_idx = np.concatenate([fit_idx, len(images) + np.arange(len(extra_images))])
        images, targets = np.concatenate([images, extra_images]), np.concatenate([targets, extra_targets])

    normalised = models.normalise_frames(images)
    test_normalised = models.normalise_frames(test_images)
    weighting = models.PRESETS[preset]["weighting"]
    weights = get_weights(targets[fit_idx], weighting)
    print(f"class weights ({weighting}): " + ", ".join(f"{n} {w:.3g}" for n, w in zip(CLASS_NAMES, weights)))

    strategy = tf.distribute.MirroredStrategy() if distribute else tf.distribute.get_strategy()
    with strategy.scope():
        model = models.build_preset(preset, weights=weights, learning_rate=learning_rate)
    f1_history: list[dict] = []
    tmp_model = model_dir / f"{model_name}.partial.keras"
    callbacks = [
        f1_callback(normalised[val_idx], targets[val_idx], f1_history),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=16, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=5),
        keras.callbacks.ModelCheckpoint(tmp_model, monitor="val_loss", save_best_only=True),
        keras.callbacks.CSVLogger(log_path, append=backup_dir.exists()),
        keras.callbacks.BackupAndRestore(str(backup_dir)),
    ]
    fit_data = training_dataset(
        normalised[fit_idx], targets[fit_idx], batch_size, seed, overlap_weights(targets[fit_idx], overlap_weight)
    )
    val_data = (normalised[val_idx][..., None], np.eye(N_CLASSES, dtype=np.float32)[targets[val_idx]])
    model.fit(fit_data, validation_data=val_data, epochs=epochs, callbacks=callbacks, verbose=2, shuffle=False)
    train_seconds = time.time() - started

    probabilities = predict_normalised(model, test_normalised)
    prediction = np.argmax(probabilities, axis=-1).astype(np.uint8)
    scores = score_labels(prediction, test_truth)
    report = classification_report(prediction, test_truth)
    test_loss = float(model.evaluate(test_normalised[..., None], np.eye(N_CLASSES, dtype=np.float32)[test_truth],
                                     batch_size=batch_size, verbose=0)[0])
    print(f"test loss {test_loss:.4f}\n{report}")

    card_data = {
        "name": model_name,
        "preset": preset,
        "architecture": dict(models.PRESETS[preset]),
        "depth": models.PRESETS[preset]["depth"],
        "normalisation": models.NORMALISATION,
        "class_names": list(CLASS_NAMES),
        "class_weights": [float(w) for w in weights],
        "labels": labels,
        "augment": augment,
        "overlap_weight": overlap_weight,
        "epochs_run": len(f1_history),
        "batch_size": batch_size,
        "seed": seed,
        "data": provenances,
        "train_seconds": round(train_seconds, 1),
        "test": {"loss": test_loss, "scores": scores, "frames": int(len(test_images))},
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()}, TensorFlow {tf.__version__}",
    }
    model.save(tmp_model)
    tmp_model.replace(model_path)
    tmp_card = card.with_name(card.name + ".tmp")
    tmp_card.write_text(json.dumps(card_data, indent=2))
    tmp_card.replace(card)
    shutil.rmtree(backup_dir, ignore_errors=True)
    (out_dir / "classification_report.txt").write_text(f"test loss {test_loss:.4f}\n{report}")

    plot_learning_curves(log_path, out_dir / "learning_curves.png", show)
    plot_confusion(confusion(prediction, test_truth), out_dir / "confusion_matrix.png", show)
    pick = int(np.random.default_rng(seed).integers(len(fit_idx)))
    train_frame = fit_idx[pick]
    train_pred = np.argmax(predict_normalised(model, normalised[train_frame][None]), axis=-1)[0]
    visualize_label(images[train_frame], targets[train_frame], train_pred,
                    path=out_dir / "train_prediction.png", title=f"training frame {train_frame}", show=show)
    for i in range(len(test_images)):
        visualize_label(test_images[i], test_truth[i], prediction[i],
                        path=out_dir / f"test_prediction_{i:03d}.png", title=f"test frame {i}", show=False)
    print(f"saved {model_path}, {card.name}, {log_path.name}; figures in {out_dir} ({train_seconds:.0f} s)")
    return card_data


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Train a model from the command line (or top to bottom in Spyder)."""
    parser = argparse.ArgumentParser(description="Train the CCD segmentation U-Net.")
    parser.add_argument("--preset", default=PRESET, help="'default' or 'original'")
    parser.add_argument("--model-name", default=MODEL_NAME)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--train-count", type=int, default=TRAIN_COUNT, help="frames simulated if none exist")
    parser.add_argument("--varied-count", type=int, default=VARIED_COUNT, help="robustness frames (0: none)")
    parser.add_argument("--test-count", type=int, default=TEST_COUNT)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--labels", choices=("truth", "thresholds"), default=LABELS)
    parser.add_argument("--augment", action="store_true", help="add an augmented copy of the training set")
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    parser.add_argument("--workdir", type=Path, default=REPO, help="where Images/ and Models/ live")
    parser.add_argument("--distribute", action="store_true", help="train on all local GPUs (MirroredStrategy)")
    parser.add_argument("--overlap-weight", type=float, default=OVERLAP_WEIGHT,
                        help="loss weight of cluster pixels on glowing regions (1: none)")
    parser.add_argument("--force", action="store_true", help="overwrite a model of the same name")
    args = parser.parse_args(argv)
    try:
        train(args.preset, args.model_name, args.epochs, args.batch_size, args.train_count, args.varied_count,
              args.test_count, args.seed, args.labels, args.augment, args.learning_rate, args.workdir,
              args.force, args.distribute, overlap_weight=args.overlap_weight)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
