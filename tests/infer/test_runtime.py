"""What runs the network (ccdseg/infer/runtime.py): Keras or OpenVINO, float32 or bfloat16."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.infer import runtime
from ccdseg.infer.runtime import native_bfloat16
from ccdseg.infer.segmenter import Segmenter
from tests.simulated_frames import simulated


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return Segmenter.load(tiny_model_path)


def test_openvino_runtime_gives_the_keras_class_maps(model):
    pytest.importorskip("openvino")
    image = simulated((300, 420))
    fast = model.with_runtime("openvino")
    assert fast.runtime == "openvino" and model.runtime == "keras"
    assert np.mean(fast.segment(image, tile_px=256) == model.segment(image, tile_px=256)) >= 0.9999
    assert fast.with_runtime("keras").runtime == "keras"
    assert fast.with_precision("bfloat16").runtime == "openvino"
    with pytest.raises(UserInputError, match="runtime"):
        model.with_runtime("tensorrt")


def test_auto_precision_is_bfloat16_only_where_openvino_computes_it_natively(model):
    assert model.with_runtime("keras").with_precision("auto").precision == "float32"
    if importlib.util.find_spec("openvino"):
        expected = "bfloat16" if native_bfloat16() else "float32"
        assert model.with_runtime("openvino").with_precision("auto").precision == expected


def test_mixed_precision_copy_computes_in_bfloat16_and_ends_in_float32(model):
    fast = runtime.mixed_precision_copy(model.model)
    computing = [layer for layer in fast.layers if layer.weights]
    assert all(layer.dtype_policy.compute_dtype == "bfloat16" for layer in computing[:-1])
    assert fast.layers[-1].dtype_policy.compute_dtype == "float32"
    assert all(np.array_equal(a, b) for a, b in zip(fast.get_weights(), model.model.get_weights()))
    assert runtime.openvino_installed() == (importlib.util.find_spec("openvino") is not None)
    assert runtime.PRECISIONS == ("auto", "float32", "bfloat16") and runtime.RUNTIMES == ("auto", "openvino", "keras")


STOP_AFTER_FREED_MODELS = """
import gc, os, signal, sys
from ccdseg.core import stopping
from ccdseg.infer.segmenter import Segmenter
first = Segmenter.load(sys.argv[1]).with_runtime("openvino")
second = first.with_precision("bfloat16")
del first
gc.collect()
del second
gc.collect()
try:
    with stopping.stop_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10**7):
            pass
except stopping.Terminated:
    print("stopped cleanly")
"""


def test_a_stop_after_compiled_models_were_freed_ends_the_run_cleanly(tiny_model_path):
    pytest.importorskip("openvino")
    done = subprocess.run([sys.executable, "-c", STOP_AFTER_FREED_MODELS, str(tiny_model_path)], capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and "stopped cleanly" in done.stdout, (done.returncode, done.stderr[-500:])
