"""train.py end to end on a tiny data set: files, figures, card, refusal to overwrite, seeds, options."""
import json

import keras
import numpy as np
import pytest

import train
from ccdseg.infer.segmenter import Segmenter


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("work")
    card = train.train(epochs=1, batch_size=4, train_count=6, varied_count=4, test_count=3,
                       model_name="tiny", workdir=workdir, show=False)
    return workdir, card


def test_training_writes_model_log_card_and_figures(trained):
    workdir, card = trained
    models_dir = workdir / "Models"
    for suffix in (".keras", ".log", ".json"):
        assert (models_dir / f"tiny{suffix}").is_file()
    saved = json.loads((models_dir / "tiny.json").read_text())
    assert saved["seed"] == 0 and saved["depth"] == 3 and len(saved["class_weights"]) == 4
    assert 0.0 <= saved["test"]["scores"]["cluster"]["f1"] <= 1.0
    assert saved["best_epoch"] == 1 == saved["epochs_run"] and saved["resumed"] is False
    assert saved["decision"]["matched_threshold"] and saved["normalisation"]["matched_sigmas_px"]
    outputs = workdir / "Images" / "Outputs" / "tiny"
    for name in ("learning_curves.png", "confusion_matrix.png", "train_prediction.png", "prediction_0002.png"):
        assert (outputs / name).stat().st_size > 1000
    assert "val_f1_cluster" in (models_dir / "tiny.log").read_text().splitlines()[0]
    assert (workdir / "Images" / "Train" / "varied_data.npy").is_file()


def test_existing_model_is_not_overwritten(trained, capsys):
    workdir, _ = trained
    before = (workdir / "Models" / "tiny.keras").read_bytes()
    assert train.main(["--workdir", str(workdir), "--model-name", "tiny", "--epochs", "1"]) == 1
    assert "exists" in capsys.readouterr().err
    assert (workdir / "Models" / "tiny.keras").read_bytes() == before


def test_same_seed_gives_the_same_model(trained, tmp_path):
    first_dir, _ = trained
    train.train(epochs=1, batch_size=4, train_count=6, varied_count=4, test_count=3,
                model_name="again", workdir=first_dir, show=False)
    a = keras.saving.load_model(first_dir / "Models" / "tiny.keras").get_weights()
    b = keras.saving.load_model(first_dir / "Models" / "again.keras").get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_bad_options_are_refused(trained, capsys):
    assert train.main(["--epochs", "0", "--workdir", str(trained[0]), "--model-name", "x"]) == 1
    assert train.main(["--object-share", "1.5", "--workdir", str(trained[0]), "--model-name", "x"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: --object-share must be 0..1, not 1.5"


def test_raw_adu_input_is_the_frame_as_it_is(trained, capsys):
    workdir, _ = trained
    assert train.main(["--raw-adu", "--workdir", str(workdir), "--model-name", "raw", "--epochs", "1"]) == 1
    assert "--no-matched-filter" in capsys.readouterr().err
    card = train.train(epochs=1, batch_size=4, train_count=6, varied_count=4, test_count=3, raw_adu=True,
                       matched_filter=False, model_name="raw", workdir=workdir, show=False)
    assert card["normalisation"] == {"method": "adu"} and card["decision"] == {}
    segmenter = Segmenter.load(workdir / "Models" / "raw.keras")
    frames = np.full((1, 16, 16), 8800.0, np.float32)
    frames[0, 3, 3] = np.nan
    x = segmenter.normalise(frames)
    assert x.shape == (1, 16, 16, 1) and x[0, 0, 0, 0] == 8800.0 and x[0, 3, 3, 0] == 0.0
    assert segmenter.classes(frames).shape == (1, 16, 16)


def test_zero_training_frames_blame_the_right_option_and_make_no_folders(tmp_path, capsys):
    assert train.main(["--train-count", "0", "--workdir", str(tmp_path), "--model-name", "x"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --train-count must be at least 1, not 0"]
    assert not any(tmp_path.iterdir())


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 6)" in out and "(default: default)" in out and "{default,original}" in out
    assert "(default: 256)" in out and "(default: cosine)" in out and "{damic-2020,damic-m}" in out
    assert "first epochs on small crops" in out and "(default: 4)" in out and "(default: 64)" in out


def test_settings_edited_in_the_script_or_the_library_take_effect(monkeypatch, capsys):
    from ccdseg.model import training_data

    monkeypatch.setattr(train, "EPOCHS", 3)
    monkeypatch.setattr(train, "LAYOUT", "banded")
    assert (train.settings_block().epochs, train.settings_block().layout) == (3, "banded")
    monkeypatch.setattr(training_data, "OVERLAP_WEIGHT", 4.0)
    with pytest.raises(SystemExit):
        train.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "glowing regions (1: none) (default: 4.0)" in out and "(default: 3)" in out


def test_a_resumed_run_draws_the_crops_of_the_epochs_it_has_left(tmp_path, monkeypatch):
    from ccdseg.model import crops, training

    drawn = []
    original_batch = crops.CropBatches.batch

    def recording_batch(self, epoch, index):
        drawn.append((epoch, index))
        return original_batch(self, epoch, index)

    class StopInSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(crops.CropBatches, "batch", recording_batch)
    monkeypatch.setattr(training, "progress_callback", lambda *args, **kwargs: StopInSecondEpoch())
    options = dict(epochs=2, steps_per_epoch=2, batch_size=2, crop_px=32, small_crop_epochs=1, small_crop_px=16,
                   train_count=6, varied_count=4, test_count=3, model_name="resumed", workdir=tmp_path, show=False)
    with pytest.raises(KeyboardInterrupt):
        train.train(**options)
    assert {epoch for epoch, _ in drawn} <= {0, 1}
    monkeypatch.undo()
    monkeypatch.setattr(crops.CropBatches, "batch", recording_batch)
    drawn.clear()
    card = train.train(**options)
    assert sorted(set(drawn)) == [(1, 0), (1, 1)] and card["resumed"] is True and card["small_crop_epochs"] == 1
    assert card["small_crop_px"] == 16
    rows = (tmp_path / "Models" / "resumed.log").read_text().splitlines()
    val_loss = [float(row.split(",")[rows[0].split(",").index("val_loss")]) for row in rows[1:]]
    assert np.isnan(val_loss[0]) and np.isfinite(val_loss[1]) and card["best_epoch"] == 2  # small crops: not scored
