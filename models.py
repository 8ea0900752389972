"""The U-Net and its weighted loss (the original's models.py).

The network is `ccdseg.model.unet.unet`, its loss
`ccdseg.model.loss.weighted_categorical_crossentropy`; both are importable
from here under the original's names. Run, this script builds a preset and
prints its layers, parameters and arithmetic per pixel:

    python models.py --preset default
"""
from __future__ import annotations

import argparse

from ccdseg.core.errors import UserInputError, quiet_native_logs, run_command
from ccdseg.model.loss import weighted_categorical_crossentropy  # noqa: F401  (the original's name)
from ccdseg.model.unet import PRESETS, build_preset, unet  # noqa: F401

# %% Settings - edit here when running top to bottom in Spyder
PRESET = "default"
CHANNELS = 2  # the frame and its matched filter


# %% Functions
def flops_per_pixel(model) -> float:
    """Multiply-adds x 2 per input pixel of a fully convolutional Keras model (its convolutions only)."""
    total, scale = 0.0, 1.0
    for layer in model.layers:
        name = type(layer).__name__
        if name == "MaxPooling2D":
            scale /= 4.0
        elif name == "Conv2DTranspose":
            scale *= 4.0
        if name in ("Conv2D", "Conv2DTranspose"):
            kernel = layer.kernel.shape
            total += 2.0 * scale * float(kernel[0] * kernel[1] * kernel[2] * kernel[3]) / (4.0 if name == "Conv2DTranspose" else 1.0)
    return total


def describe_preset(name: str, channels: int) -> str:
    """The preset's settings, parameter count and floating-point operations per pixel, one line each."""
    if name not in PRESETS:
        raise UserInputError(f"--preset must be one of {', '.join(PRESETS)}, not {name!r}")
    model = build_preset(name, channels=channels)
    return "\n".join([
        f"preset {name}: " + ", ".join(f"{k} {v}" for k, v in PRESETS[name].items()),
        f"{model.count_params():,} parameters, {len(model.layers)} layers, input (h, w, {channels})",
        f"{flops_per_pixel(model):,.0f} floating-point operations per pixel",
    ])


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Build a preset of the U-Net and describe it."""
    parser = argparse.ArgumentParser(description="Build a U-Net preset and print its size.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", default=PRESET, help=f"one of {', '.join(PRESETS)}")
    parser.add_argument("--channels", type=int, default=CHANNELS, help="input channels (1: the frame alone)")
    args = parser.parse_args(argv)
    return run_command(lambda: print(describe_preset(args.preset, args.channels)))


if __name__ == "__main__":
    quiet_native_logs()
    raise SystemExit(main())
