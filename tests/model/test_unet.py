"""The U-Net and its presets (ccdseg/model/unet.py): any frame size, the original's architecture."""
import keras
import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.model import unet


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
