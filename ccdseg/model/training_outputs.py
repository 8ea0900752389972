"""What a training run writes and shows: its paths, the per-epoch validation F1, its figures."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
def f1_callback(x_val: np.ndarray, y_val: np.ndarray, history: list[dict]):
    """A Keras callback adding per-class validation F1 to the logs after each epoch."""
    import keras

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
