"""The one prediction function (ccdseg/model/predict.py): frames of any size padded to the multiple, in batches."""
import numpy as np

from ccdseg.model import predict, unet


def fake_runtime(calls):
    """A stand-in for a model's runtime: class 3 where the input is positive, else 0; records each batch's shape."""
    def infer(batch):
        calls.append(batch.shape)
        return np.eye(4, dtype=np.float32)[np.where(batch[..., 0] > 0, 3, 0)]
    return infer


def test_frames_of_any_size_are_padded_to_the_multiple_and_cropped_back():
    normalised = np.random.default_rng(0).normal(size=(5, 13, 21, 2)).astype(np.float32)
    calls = []
    probabilities = predict.predict_normalised(None, normalised, multiple=8, batch_size=2, infer=fake_runtime(calls))
    assert probabilities.shape == (5, 13, 21, 4) and probabilities.dtype == np.float32
    assert calls == [(2, 16, 24, 2), (2, 16, 24, 2), (1, 16, 24, 2)]
    assert np.array_equal(np.argmax(probabilities, axis=-1), np.where(normalised[..., 0] > 0, 3, 0))


def test_frames_per_call_default_is_read_when_called(monkeypatch):
    normalised = np.zeros((5, 8, 8, 1), np.float32)
    calls = []
    monkeypatch.setattr(predict, "PREDICT_BATCH_FRAMES", 3)
    predict.predict_normalised(None, normalised, multiple=8, infer=fake_runtime(calls))
    assert [shape[0] for shape in calls] == [3, 2]


def test_depth_and_the_keras_call_of_a_real_u_net():
    model = unet.unet(depth=2, base_filters=2, dropout=0.0, reg=0.0, optimizer="adam")
    assert predict.pooling_depth(model) == 2
    probabilities = predict.predict_normalised(model, np.zeros((1, 10, 14, 1), np.float32))
    assert probabilities.shape == (1, 10, 14, 4) and np.allclose(probabilities.sum(-1), 1.0, atol=1e-5)
