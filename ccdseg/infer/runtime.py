"""What runs the network: Keras, or OpenVINO compiled for the CPU, in float32 or bfloat16.

OpenVINO compiles the same Keras model for the CPU, once (a second or two).
In float32 it gives Keras's class maps; in bfloat16 it computes in bfloat16
where the CPU can (AVX512-BF16 or AMX), nearly twice as fast.
"""
from __future__ import annotations

import importlib.util
import warnings
from concurrent.futures import ThreadPoolExecutor

# %% Choices
PRECISIONS = ("auto", "float32", "bfloat16")
RUNTIMES = ("auto", "openvino", "keras")


# %% Functions
def mixed_precision_copy(model):
    """A copy of a Keras model whose layers compute in bfloat16 (the final softmax in float32)."""
    import keras

    def clone(layer):
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = "float32" if layer is model.layers[-1] else "mixed_bfloat16"
        return layer.__class__.from_config(config)

    fast = keras.models.clone_model(model, clone_function=clone)
    fast.set_weights(model.get_weights())
    return fast


def native_bfloat16() -> bool:
    """Whether OpenVINO computes bfloat16 natively on this CPU (AVX512-BF16 or AMX), as it reports itself."""
    try:
        import openvino as ov

        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except (ImportError, RuntimeError):
        return False


def openvino_installed() -> bool:
    """Whether the OpenVINO runtime can be imported here."""
    return importlib.util.find_spec("openvino") is not None


def compile_openvino(model, channels: int, precision: str):
    """The Keras `model` (input (n, h, w, `channels`)) compiled by OpenVINO for the CPU in `precision`.

    Compiled in a thread of its own: OpenVINO gives the compiling thread a
    signal stack of the compiled model's and, when the model is freed, puts
    back the one that thread had before, which may be another freed model's.
    Python handles Ctrl-C and SIGTERM on that stack, so in the main thread
    such a stop would crash the process (a segmentation fault) instead of
    ending the run cleanly.
    """
    import openvino as ov

    hint = "bf16" if precision == "bfloat16" else "f32"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = ov.convert_model(model, input=[(-1, -1, -1, channels)])
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(ov.Core().compile_model, converted, "CPU", {"INFERENCE_PRECISION_HINT": hint}).result()
