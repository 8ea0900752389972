"""What a training run writes and shows (ccdseg/model/training_outputs.py): its paths, the validation F1 per epoch."""
from pathlib import Path

import numpy as np

from ccdseg.model import unet
from ccdseg.model.training_outputs import RunPaths, f1_callback


def test_a_run_writes_beside_its_name():
    paths = RunPaths(Path("/work"), "tiny")
    assert paths.model == Path("/work/Models/tiny.keras")
    assert (paths.log, paths.card) == (Path("/work/Models/tiny.log"), Path("/work/Models/tiny.json"))
    assert paths.backup == Path("/work/Models/tiny_backup") and paths.partial_model.name == "tiny.partial.keras"
    assert paths.figures == Path("/work/Images/Outputs/tiny")


def test_validation_f1_of_every_class_is_logged_after_an_epoch(capsys):
    model = unet.unet(depth=1, base_filters=2, dropout=0.0, reg=0.0, optimizer="adam")
    x_val = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype(np.float32)
    y_val = np.zeros((2, 16, 16), np.uint8)
    history = []
    callback = f1_callback(x_val, y_val, history)
    callback.set_model(model)
    logs = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    names = ["val_f1_background", "val_f1_glowing", "val_f1_hot_pixel", "val_f1_cluster"]
    assert list(history[0]) == names and all(logs[name] == history[0][name] for name in names)
    assert all(0.0 <= logs[name] <= 1.0 for name in names) and logs["loss"] == 1.0
    assert capsys.readouterr().out.startswith(" - background ")
