"""train.py end to end on a tiny data set: files, figures, card, refusal to overwrite, seeds."""
import json

import numpy as np
import pytest

import train
from ccdseg.core.errors import UserInputError
from ccdseg.model import training_data


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
    import keras

    first_dir, _ = trained
    train.train(epochs=1, batch_size=4, train_count=6, varied_count=4, test_count=3,
                model_name="again", workdir=first_dir, show=False)
    a = keras.saving.load_model(first_dir / "Models" / "tiny.keras").get_weights()
    b = keras.saving.load_model(first_dir / "Models" / "again.keras").get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_threshold_labels_option_and_bad_options(trained):
    images = np.full((1, 8, 8), 8800.0, np.float32)
    images[0, 2, 2] += 1000
    targets = training_data.make_targets(images, np.zeros((1, 8, 8), np.uint8), "thresholds")
    assert targets[0, 2, 2] == 3 and targets.sum() == 3
    with pytest.raises(UserInputError):
        training_data.make_targets(images, images.astype(np.uint8), "guess")
    assert train.main(["--epochs", "0", "--workdir", str(trained[0]), "--model-name", "x"]) == 1


def test_raw_adu_input_is_the_frame_as_it_is(trained, capsys):
    from ccdseg.infer.segmenter import Segmenter

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


def test_overlap_weights_emphasise_clusters_on_glowing_regions_only():
    targets = np.zeros((2, 30, 30), np.uint8)
    targets[0, :, :8] = 1
    targets[0, 4, 5] = 3  # on the glowing block
    targets[0, 20, 25] = 3  # far from it
    targets[1, 10, 10] = 3
    weights = training_data.overlap_weights(targets, weight=7.0, radius_px=3)
    assert weights.shape == targets.shape and weights.dtype == np.float32
    assert weights[0, 4, 5] == 7.0
    assert weights[0, 20, 25] == 1.0 and weights[1, 10, 10] == 1.0
    assert np.count_nonzero(weights != 1.0) == 1


def test_training_batches_carry_pixel_weights():
    x = np.zeros((3, 16, 16, 2), np.float32)
    x[..., 1] = 7.0
    y = np.zeros((3, 16, 16), np.uint8)
    y[:, 2, 3] = 3
    w = np.ones((3, 16, 16), np.float32)
    w[:, 2, 3] = 5.0
    images, targets, weights = next(iter(training_data.training_dataset(x, y, 3, 0, w)))
    assert images.shape == (3, 16, 16, 2) and targets.shape == (3, 16, 16, 4)
    assert np.all(np.asarray(images)[..., 1] == 7.0)
    cluster = np.asarray(targets)[..., 3] == 1
    assert np.all(np.asarray(weights)[cluster] == 5.0) and np.all(np.asarray(weights)[~cluster] == 1.0)


def test_zero_training_frames_blame_the_right_option_and_make_no_folders(tmp_path, capsys):
    assert train.main(["--train-count", "0", "--workdir", str(tmp_path), "--model-name", "x"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --train-count must be at least 1, not 0"]
    assert not any(tmp_path.iterdir())


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 15)" in out and "(default: default)" in out and "{default,original}" in out
