"""Training batches of crops (ccdseg/model/crops.py): shapes, objects in view, symmetries, reproducibility."""
import numpy as np
import pytest

from ccdseg.core.classes import CLUSTER, N_CLASSES
from ccdseg.core.errors import UserInputError
from ccdseg.model.crops import CropBatches


def frames():
    y = np.zeros((4, 256, 256), np.uint8)
    y[:, 200:204, 30:34] = CLUSTER
    x = np.random.default_rng(0).normal(size=(4, 256, 256, 2)).astype(np.float32)
    x[..., 0] += np.arange(256, dtype=np.float32)[None, :, None] / 256.0  # a ramp along the rows
    return x, y


def test_batches_have_their_shapes_and_one_hot_targets():
    x, y = frames()
    batches = CropBatches(x, y, 6, 3, seed=1, pixel_weights=np.ones(y.shape, np.float32), crop_px=64)
    xb, yb, wb = batches[2]
    assert len(batches) == 3 and xb.shape == (6, 64, 64, 2) and yb.shape == (6, 64, 64, N_CLASSES)
    assert wb.shape == (6, 64, 64) and np.allclose(yb.sum(axis=-1), 1.0)


def test_object_share_centres_crops_on_objects_and_seeds_repeat():
    x, y = frames()
    on_objects = CropBatches(x, y, 32, 1, seed=2, crop_px=64, object_share=1.0)[0][1]
    anywhere = CropBatches(x, y, 32, 1, seed=2, crop_px=64, object_share=0.0)[0][1]
    assert (on_objects[..., CLUSTER].sum(axis=(1, 2)) > 0).all() and (anywhere[..., CLUSTER].sum(axis=(1, 2)) > 0).mean() < 0.5
    again = CropBatches(x, y, 32, 1, seed=2, crop_px=64, object_share=1.0)[0][0]
    assert np.array_equal(again, CropBatches(x, y, 32, 1, seed=2, crop_px=64, object_share=1.0)[0][0])


def test_skipper_symmetries_keep_rows_as_rows():
    x, y = frames()
    rows = CropBatches(x, y, 32, 1, seed=3, crop_px=64, symmetries="rows")[0][0][..., 0]
    slope = np.mean(np.diff(rows.mean(axis=2), axis=1), axis=1)  # along the crop's rows: the ramp or its flip
    assert np.all(np.abs(np.abs(slope) - 1 / 256) < 0.01)
    with pytest.raises(UserInputError, match="symmetries"):
        CropBatches(x, y, 2, 1, seed=0, symmetries="hexagon")
    with pytest.raises(UserInputError, match="do not fit"):
        CropBatches(x, y, 2, 1, seed=0, crop_px=512)


def test_the_first_epochs_cut_half_size_crops_twice_as_many_and_the_stream_repeats_the_draws():
    x, y = frames()
    batches = CropBatches(x, y, 3, 2, seed=4, crop_px=64, small_epochs=1)
    stream = [tuple(part.numpy() for part in batch) for batch in batches.dataset(epochs=2)]
    assert [b[0].shape for b in stream] == [(6, 32, 32, 2)] * 2 + [(3, 64, 64, 2)] * 2
    assert all(np.array_equal(b[1], batches.batch(e, i)[1]) for b, (e, i) in zip(stream, [(0, 0), (0, 1), (1, 0), (1, 1)]))
    assert batches.dataset(epochs=2).options().autotune.enabled is False  # its thread could hold a fit's end 30 s
    resumed = [batch[0].numpy() for batch in batches.dataset(epochs=2, first_epoch=1)]
    assert len(resumed) == 2 and np.array_equal(resumed[1], stream[3][0])
    sixteenths = CropBatches(x, y, 2, 1, seed=4, crop_px=128, small_epochs=1, small_px=32)  # 16 crops: half the pixels
    assert sixteenths.crop_shape(0) == (32, 16) and sixteenths.crop_shape(1) == (128, 2)
    with pytest.raises(UserInputError):
        CropBatches(x, y, 2, 1, seed=0, crop_px=64, small_epochs=1, small_px=96)


def test_a_fit_runs_through_crops_that_change_size_between_epochs():
    import keras

    x, y = frames()
    batches = CropBatches(x, y, 2, 3, seed=5, crop_px=64, small_epochs=1)
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, keras.layers.Conv2D(N_CLASSES, 3, padding="same", activation="softmax")(inputs))
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    history = model.fit(batches.dataset(epochs=2), epochs=2, steps_per_epoch=len(batches), verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 2 and model.optimizer.iterations.numpy() == 6
