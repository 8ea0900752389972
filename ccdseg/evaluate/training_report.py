"""The end of a training run: the trained model scored on its test frames, saved with its card, report and figures."""
from __future__ import annotations

import datetime as dt
import json
import platform
import shutil

from ccdseg.core.classes import CLASS_NAMES, to_one_hot
from ccdseg.core.safe_write import save_text
from ccdseg.core.scoring import classification_report, score_labels
from ccdseg.infer.segmenter import Segmenter
from ccdseg.model import unet
from ccdseg.model import predict
from ccdseg.model.training import TrainingData, TrainingSettings
from ccdseg.model.training_outputs import RunPaths, draw_run_figures


# %% Functions
def evaluate_and_save(model, data: TrainingData, settings: TrainingSettings, paths: RunPaths, record: dict,
                      show: bool = True) -> dict:
    """Score the test set, save the model, its card, report and figures; return the card.

    record : what the run measured so far (weights, epochs, seconds).
    """
    import tensorflow as tf

    preset = unet.PRESETS[settings.preset]
    segmenter = Segmenter(model, {"depth": preset["depth"], "decision": settings.decision,
                                  "normalisation": settings.normalisation})
    prediction = segmenter.classes_of_normalised(data.test_normalised, frames=data.test_images,
                                                 backgrounds=data.test_backgrounds)
    scores = score_labels(prediction, data.test_truth)
    report = classification_report(prediction, data.test_truth)
    test_loss = float(model.evaluate(data.test_normalised, to_one_hot(data.test_truth),
                                     batch_size=predict.PREDICT_BATCH_FRAMES, verbose=0)[0])
    print(f"test loss {test_loss:.4f}\n{report}")
    card = {
        "name": settings.model_name,
        "preset": settings.preset,
        "architecture": dict(preset),
        "depth": preset["depth"],
        "normalisation": settings.normalisation,
        "decision": settings.decision,
        "class_names": list(CLASS_NAMES),
        "class_weights": [float(w) for w in record["weights"]],
        "weighting": settings.weighting or preset["weighting"],
        "labels": settings.labels,
        "augment": settings.augment,
        "overlap_weight": settings.overlap_weight,
        "small_cluster_weight": settings.small_cluster_weight,
        "matched_filter": settings.matched_filter,
        "epochs_run": record["epochs_run"],
        "best_epoch": record["best_epoch"],
        "resumed": record["resumed"],
        "detector": settings.detector,
        "batch_size": settings.batch_size,
        "crop_px": settings.crop_px,
        "small_crop_epochs": settings.small_crop_epochs,
        "small_crop_px": settings.small_crop_px,
        "steps": record.get("steps"),
        "schedule": settings.schedule,
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
