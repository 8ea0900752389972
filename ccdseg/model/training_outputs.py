"""What a training run writes and shows: its paths, the per-epoch validation F1, its figures."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ccdseg.core.classes import CLASS_NAMES
from ccdseg.core.scoring import confusion, score_labels
from ccdseg.model.predict import predict_normalised
from ccdseg.plots.labels import visualize_label
from ccdseg.plots.results import plot_confusion, plot_learning_curves


# %% Paths
@dataclass(frozen=True)
class RunPaths:
    """Where a run named NAME writes: the model, its log, card and backup, and its figures."""

    workdir: Path
    name: str

    @property
    def model(self) -> Path:
        return self.workdir / "Models" / f"{self.name}.keras"

    @property
    def log(self) -> Path:
        return self.model.with_suffix(".log")

    @property
    def card(self) -> Path:
        return self.model.with_suffix(".json")

    @property
    def backup(self) -> Path:
        return self.model.with_name(f"{self.name}_backup")

    @property
    def partial_model(self) -> Path:
        return self.model.with_name(f"{self.name}.partial.keras")

    @property
    def figures(self) -> Path:
        return self.workdir / "Images" / "Outputs" / self.name


# %% During and after the fit
def validation_callback(x_val: np.ndarray, y_val: np.ndarray, class_weights: np.ndarray, history: list[dict],
                        first_epoch: int = 0):
    """A Keras callback that scores the validation frames once per epoch: loss and per-class F1 into the logs.

    One prediction pass gives both the validation loss (the weighted
    cross-entropy of the training loss, `val_loss`, which EarlyStopping and
    ModelCheckpoint watch) and the F1 of every class (`val_f1_*`): Keras's
    own validation would predict the frames a second time. Put it first
    among the callbacks, so the others see its figures. Epochs before
    `first_epoch` are not scored: their figures are NaN, so the CSV log
    keeps its columns and no such epoch is picked as the best.
    """
    import keras

    weights = np.asarray(class_weights, dtype=np.float64)
    f1_keys = {name: f"val_f1_{name.replace(' ', '_')}" for name in CLASS_NAMES}

    def scores(model) -> dict:
        probabilities = predict_normalised(model, x_val)
        picked = np.take_along_axis(probabilities, y_val[..., None].astype(np.intp), axis=-1)[..., 0]
        loss = float(np.mean(-weights[y_val] * np.log(np.clip(picked, 1e-7, 1.0))))
        predicted = np.argmax(probabilities, axis=-1)
        per_class = score_labels(predicted, y_val)
        return {"val_loss": loss, "val_accuracy": float(np.mean(predicted == y_val)),
                **{key: per_class[name]["f1"] for name, key in f1_keys.items()}}

    class Validation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch < first_epoch:
                entry = dict.fromkeys(["val_loss", "val_accuracy", *f1_keys.values()], float("nan"))
            else:
                entry = scores(self.model)
            history.append(entry)
            if logs is not None:
                logs.update(entry)

    return Validation()


def progress_callback(steps_per_epoch: int, step_pixels: list[int], first_epoch_note: bool = True):
    """A Keras callback drawing one progress bar over the whole fit (every step of every epoch) with the time left.

    step_pixels : the pixels one step of each epoch computes. The bar counts
    pixels, not steps, so its time left holds when the crops change size
    (`crops.CropBatches` small_epochs: early steps cost half). After the
    first epoch run it prints the whole fit's expected duration on this
    machine, and after each epoch a line of its scores. A resumed run's bar
    starts at the epochs already done.
    """
    import keras

    total = steps_per_epoch * sum(step_pixels)

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=total, desc="training", unit="px", unit_scale=True, smoothing=0.05)
            self.started, self.first, self.epoch = time.perf_counter(), None, 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            if self.first is None:
                self.first = epoch
                self.bar.update(steps_per_epoch * sum(step_pixels[:epoch]))

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(step_pixels[self.epoch])

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if epoch == self.first and first_epoch_note:
                done = steps_per_epoch * step_pixels[epoch]
                seconds = (time.perf_counter() - self.started) / done * steps_per_epoch * sum(step_pixels[epoch:])
                self.bar.write(f"expected training time on this machine: {seconds / 60:.1f} min"
                               f" ({len(step_pixels) - epoch} epochs of {steps_per_epoch} steps,"
                               f" {(time.perf_counter() - self.started) / done * 1e6:.2f} s a million pixels)")
            loss = f"epoch {epoch + 1}: loss {logs.get('loss', float('nan')):.4f}"
            if np.isnan(logs.get("val_loss", np.nan)):
                self.bar.write(f"{loss}; the validation frames are scored from the first epoch of large crops")
                return
            shown = ", ".join(f"{k.removeprefix('val_f1_').replace('_', ' ')} {v:.3f}" for k, v in logs.items()
                              if k.startswith("val_f1_"))
            self.bar.write(f"{loss}, validation loss {logs['val_loss']:.4f}; validation F1: {shown}")

        def on_train_end(self, logs=None):
            self.bar.close()

    return Progress()


def draw_run_figures(model, data, prediction: np.ndarray, paths: RunPaths, seed: int,
                     show: bool = True) -> None:
    """Learning curves, confusion matrix, one training frame and every test frame with its prediction.

    data : the run's `model.training.TrainingData`; prediction : (n, h, w) class ids of its test frames.
    """
    out = paths.figures
    plot_learning_curves(paths.log, out / "learning_curves.png", show)
    plot_confusion(confusion(prediction, data.test_truth), out / "confusion_matrix.png", show)
    pick = int(np.random.default_rng(seed).integers(len(data.fit_idx)))
    train_frame = data.fit_idx[pick]
    train_pred = np.argmax(predict_normalised(model, data.normalised[train_frame][None]), axis=-1)[0]
    visualize_label(data.images[train_frame], data.targets[train_frame], train_pred,
                    path=out / "train_prediction.png", title=f"training frame {train_frame}", show=show)
    for i in range(len(data.test_images)):
        visualize_label(data.test_images[i], data.test_truth[i], prediction[i],
                        path=out / f"prediction_{i:04d}.png", title=f"test frame {i}", show=False)
