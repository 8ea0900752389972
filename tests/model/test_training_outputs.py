"""What a training run writes and shows (ccdseg/model/training_outputs.py): its paths, the validation F1 per epoch."""
from pathlib import Path

import numpy as np
import pytest

from ccdseg.model import unet
from ccdseg.model.training_outputs import RunPaths, progress_callback, validation_callback


def test_a_run_writes_beside_its_name():
    paths = RunPaths(Path("/work"), "tiny")
    assert paths.model == Path("/work/Models/tiny.keras")
    assert (paths.log, paths.card) == (Path("/work/Models/tiny.log"), Path("/work/Models/tiny.json"))
    assert paths.backup == Path("/work/Models/tiny_backup") and paths.partial_model.name == "tiny.partial.keras"
    assert paths.figures == Path("/work/Images/Outputs/tiny")


def test_validation_loss_and_f1_of_every_class_come_from_one_prediction():
    model = unet.unet(depth=1, base_filters=2, dropout=0.0, reg=0.0, optimizer="adam")
    x_val = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype(np.float32)
    y_val = np.zeros((2, 16, 16), np.uint8)
    y_val[0, 3:5, 3:5] = 3
    history = []
    weights = np.array([1.0, 1.0, 1.0, 4.0])
    callback = validation_callback(x_val, y_val, weights, history)
    callback.set_model(model)
    logs = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    names = ["val_f1_background", "val_f1_glowing", "val_f1_hot_pixel", "val_f1_cluster"]
    assert all(logs[name] == history[0][name] for name in names) and all(0.0 <= logs[n] <= 1.0 for n in names)
    probabilities = np.asarray(model(x_val, training=False))
    picked = np.take_along_axis(probabilities, y_val[..., None].astype(int), axis=-1)[..., 0]
    assert logs["val_loss"] == pytest.approx(np.mean(-weights[y_val] * np.log(picked)), rel=1e-4)
    assert logs["loss"] == 1.0 and 0.0 <= logs["val_accuracy"] <= 1.0


def test_epochs_before_the_first_scored_one_log_nan_without_predicting():
    y_val = np.zeros((1, 8, 8), np.uint8)
    history = []
    callback = validation_callback(np.zeros((1, 8, 8, 1), np.float32), y_val, np.ones(4), history, first_epoch=2)
    logs = {"loss": 1.0}
    callback.on_epoch_end(1, logs)  # no model is set: a prediction would fail
    names = ["val_loss", "val_accuracy", "val_f1_background", "val_f1_glowing", "val_f1_hot_pixel", "val_f1_cluster"]
    assert sorted(logs) == sorted(names + ["loss"]) and all(np.isnan(logs[name]) for name in names)
    assert len(history) == 1 and np.isnan(history[0]["val_loss"])
    with pytest.raises(AttributeError):
        callback.on_epoch_end(2, {})


def test_progress_bar_counts_pixels_and_says_the_expected_time_after_the_first_epoch(capsys, monkeypatch):
    clock = iter([0.0, 10.0, 10.0, 10.0])
    monkeypatch.setattr("ccdseg.model.training_outputs.time.perf_counter", lambda: next(clock))
    callback = progress_callback(2, [500, 1000, 1000])  # an epoch of half-cost steps, then two of full cost
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    for step in range(2):
        callback.on_train_batch_end(step)
    assert callback.bar.n == 1000 and callback.bar.total == 5000
    callback.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.6, "val_f1_cluster": 0.7})
    callback.on_train_end()
    err = capsys.readouterr()
    text = err.out + err.err
    assert "expected training time on this machine: 0.8 min (3 epochs of 2 steps" in text and "cluster 0.700" in text
    callback.on_epoch_end(1, {"loss": 0.4, "val_loss": float("nan"), "val_f1_cluster": float("nan")})
    err = capsys.readouterr()
    text = err.out + err.err
    assert "epoch 2: loss 0.4000; the validation frames are scored from the first epoch of large crops" in text
    assert "nan" not in text


def test_a_resumed_progress_bar_starts_at_the_epochs_already_done():
    callback = progress_callback(3, [100, 200, 200], first_epoch_note=False)
    callback.on_train_begin()
    callback.on_epoch_begin(2)
    callback.on_train_batch_end(0)
    assert callback.bar.n == 3 * 300 + 200
    callback.on_train_end()
