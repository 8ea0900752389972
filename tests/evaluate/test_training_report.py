"""The end of a training run (ccdseg/evaluate/training_report.py): test scores, the model saved with card, figures."""
import json

import keras
import numpy as np

from ccdseg.evaluate.training_report import evaluate_and_save
from ccdseg.model import normalisation, unet
from ccdseg.model.training import TrainingData, TrainingSettings
from ccdseg.model.training_outputs import RunPaths
from ccdseg.simulate.datasets import simulate_dataset


def test_model_card_report_and_figures_are_saved(tmp_path, capsys):
    settings = TrainingSettings(model_name="tiny", seed=3)
    images, truth = simulate_dataset(5, 3, size=(32, 32), progress=False)
    data = TrainingData(images=images[:3], targets=truth[:3],
                        normalised=normalisation.normalise_frames(images[:3], settings.normalisation),
                        fit_idx=np.array([0, 1]), val_idx=np.array([2]), test_images=images[3:], test_truth=truth[3:],
                        test_normalised=normalisation.normalise_frames(images[3:], settings.normalisation),
                        provenance={"training": {"count": 3}})
    paths = RunPaths(tmp_path, settings.model_name)
    paths.model.parent.mkdir()
    paths.log.write_text("epoch,loss,val_loss\n0,1.0,1.1\n")
    model = unet.build_preset("default", channels=2)
    record = {"weights": [1.0] * 4, "epochs_run": 1, "best_epoch": 1, "resumed": False, "train_seconds": 12.34}
    card = evaluate_and_save(model, data, settings, paths, record, show=False)
    assert json.loads(paths.card.read_text()) == card
    assert card["depth"] == 3 and card["architecture"] == unet.PRESETS["default"] and card["weighting"] == "none"
    assert card["decision"] == settings.decision and card["normalisation"] == settings.normalisation
    assert card["test"]["frames"] == 2 and 0.0 <= card["test"]["scores"]["cluster"]["f1"] <= 1.0
    assert card["train_seconds"] == 12.3 and card["data"] == {"training": {"count": 3}}
    assert keras.saving.load_model(paths.model).count_params() == model.count_params()
    assert not paths.partial_model.exists()
    assert "test loss" in (paths.figures / "classification_report.txt").read_text()
    for name in ("learning_curves.png", "confusion_matrix.png", "train_prediction.png", "prediction_0001.png"):
        assert (paths.figures / name).stat().st_size > 1000, name
    assert "test loss" in capsys.readouterr().out
