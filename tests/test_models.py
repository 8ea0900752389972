"""The U-Net, its weighted loss and the input normalisation."""
import keras
import numpy as np
import pytest

import models
from ccdseg.core.errors import UserInputError
from ccdseg.model import loss
from ccdseg.measure import matched_filter
from ccdseg.model import normalisation
from ccdseg.model import unet


def test_weighted_loss_matches_formula():
    weights = np.array([0.5, 1.0, 2.0, 4.0])
    loss_fn = loss.weighted_categorical_crossentropy(weights)
    y_true = np.eye(4, dtype=np.float32)[[0, 3, 2]][None]
    y_pred = np.array([[[0.7, 0.1, 0.1, 0.1], [0.2, 0.2, 0.2, 0.4], [0.25, 0.25, 0.25, 0.25]]], np.float32)
    expected = np.mean([-0.5 * np.log(0.7), -4.0 * np.log(0.4), -2.0 * np.log(0.25)])
    assert float(loss_fn(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)


def test_saved_model_loads_without_custom_objects(tmp_path):
    model = unet.unet(depth=2, base_filters=4, weights=[1, 2, 3, 4], optimizer="adam")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.loss.class_weights == [1.0, 2.0, 3.0, 4.0]
    x = np.random.default_rng(0).normal(size=(1, 32, 48, 1)).astype(np.float32)
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_any_size_multiple_of_two_to_the_depth_and_no_lambda_layers():
    model = unet.unet(depth=3, base_filters=4)
    assert model.input_shape == (None, None, None, 1)
    out = model.predict(np.zeros((1, 40, 64, 1), np.float32), verbose=0)
    assert out.shape == (1, 40, 64, 4) and np.allclose(out.sum(-1), 1, atol=1e-5)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


def test_original_preset_has_the_original_architecture():
    model = unet.build_preset("original")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
             and not isinstance(layer, keras.layers.Conv2DTranspose)]
    filters = sorted({layer.filters for layer in convs} - {4})
    assert filters == [32, 64, 128, 256, 512]
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers) == 4
    assert any(isinstance(layer, keras.layers.Dropout) and layer.rate == pytest.approx(0.18) for layer in model.layers)
    assert type(model.optimizer).__name__ == "Adadelta"
    with pytest.raises(UserInputError):
        unet.build_preset("huge")


def test_normalisation_ignores_pedestal_and_gain():
    rng = np.random.default_rng(0)
    frame = rng.normal(8800, 19, (64, 64)).astype(np.float32)
    frame[10:14, 10:14] += 500
    a = normalisation.normalise_frames(frame)
    b = normalisation.normalise_frames(frame * 2.5 - 3000)
    assert np.allclose(a, b, rtol=1e-3, atol=1e-2)
    gain = normalisation.NORMALISATION["gain"]
    assert abs(np.median(a)) < 0.05 * gain and np.median(np.abs(a)) == pytest.approx(0.6745 * gain, rel=0.1)


def test_normalisation_survives_nan_and_constant_frames():
    frame = np.full((16, 16), 100.0, np.float32)
    assert np.all(normalisation.normalise_frames(frame) == 0)
    frame[0, 0] = np.nan
    out = normalisation.normalise_frames(frame)
    assert np.all(np.isfinite(out))


def test_matched_filter_is_unit_noise_and_lifts_a_faint_deposit():
    rng = np.random.default_rng(3)
    z = rng.normal(0.0, 1.0, (2, 128, 128)).astype(np.float32)
    significance = matched_filter.matched_filter(z, (0.7,))
    assert np.std(significance) == pytest.approx(1.0, abs=0.08)
    yy, xx = np.mgrid[:128, :128]
    deposit = np.exp(-((yy - 64) ** 2 + (xx - 64) ** 2) / (2 * 1.2**2))
    deposit *= 20.0 / deposit.sum()  # 20 noise sigmas in all, under 3 sigmas in its brightest pixel
    z[0] += deposit.astype(np.float32)
    lifted = matched_filter.matched_filter(z, (0.3, 0.7, 1.2))
    assert deposit.max() < 3 and lifted[0, 62:67, 62:67].max() > 3.5


def test_matched_normalisation_adds_a_second_channel():
    frame = np.random.default_rng(0).normal(8800, 19, (40, 50)).astype(np.float32)
    one = normalisation.normalise_frames(frame)
    two = normalisation.normalise_frames(frame, normalisation.MATCHED_NORMALISATION)
    assert one.shape == (40, 50, 1) and two.shape == (40, 50, 2)
    assert np.array_equal(one[..., 0], two[..., 0])
    assert normalisation.input_channels(normalisation.MATCHED_NORMALISATION) == 2
