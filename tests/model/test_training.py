"""Training in stages (ccdseg/model/training.py): the run's settings, its data, the model."""
import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.model import normalisation, training, training_data, unet


def test_settings_give_the_input_and_the_decision_rule_of_the_card():
    settings = training.TrainingSettings()
    assert settings.normalisation == normalisation.MATCHED_NORMALISATION and settings.decision == training.DECISION
    alone = training.TrainingSettings(matched_filter=False)
    assert alone.normalisation == normalisation.NORMALISATION and alone.decision == {}
    assert training.TrainingSettings(matched_filter=False, raw_adu=True).normalisation == {"method": "adu"}


def test_loss_weight_defaults_are_read_when_the_settings_are_made(monkeypatch):
    assert training.TrainingSettings().overlap_weight == training_data.OVERLAP_WEIGHT
    monkeypatch.setattr(training_data, "OVERLAP_WEIGHT", 3.0)
    monkeypatch.setattr(training_data, "SMALL_CLUSTER_WEIGHT", 2.0)
    settings = training.TrainingSettings()
    assert (settings.overlap_weight, settings.small_cluster_weight) == (3.0, 2.0)


def test_replacing_settings_checks_the_names():
    settings = training.replace_settings(training.TrainingSettings(), {"epochs": 2, "seed": 5})
    assert (settings.epochs, settings.seed, settings.preset) == (2, 5, "default")
    with pytest.raises(UserInputError, match="epoch_count"):
        training.replace_settings(settings, {"epoch_count": 2})


def test_data_are_simulated_split_and_normalised(tmp_path):
    settings = training.TrainingSettings(train_count=4, varied_count=0, test_count=1, seed=2)
    data = training.prepare_data(settings, tmp_path)
    assert data.images.shape == (4, 256, 256) and data.normalised.shape == (4, 256, 256, 2)
    assert sorted(np.concatenate([data.fit_idx, data.val_idx])) == [0, 1, 2, 3] and len(data.val_idx) == 1
    assert np.array_equal(data.targets, np.load(tmp_path / "Images" / "Train" / "training_truth.npy"))
    assert data.test_normalised.shape == (1, 256, 256, 2) and set(data.provenance) == {"training", "test"}
    model, weights = training.build_model(settings, data)
    assert unet.PRESETS["default"]["weighting"] == "none"
    assert model.input_shape == (None, None, None, 2) and np.allclose(weights, 1.0)  # the default preset: no weights
    _, sqrt_weights = training.build_model(training.replace_settings(settings, {"weighting": "sqrt"}), data)
    assert sqrt_weights.sum() == pytest.approx(4.0) and not np.allclose(sqrt_weights, 1.0)


def test_whole_frames_take_one_pass_an_epoch_whatever_the_steps_say():
    from types import SimpleNamespace

    data = SimpleNamespace(fit_idx=np.arange(316))
    whole = training.TrainingSettings(crop_px=None, batch_size=8, epochs=15, steps_per_epoch=100)
    assert training.total_steps(whole, data) == 15 * 40
    crops = training.TrainingSettings(batch_size=16, epochs=6, steps_per_epoch=100)
    assert training.total_steps(crops, data) == 600
    assert training.total_steps(training.TrainingSettings(batch_size=16, epochs=2, steps_per_epoch=None), data) == 40
