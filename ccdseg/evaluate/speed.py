"""Speed measurements of the benchmark, side by side on this machine: labelling, simulation, training, inference.

Threshold labelling vectorised vs. a per-pixel loop in the original's style
(outputs asserted equal), simulated frames per second, training seconds per
epoch per 100 frames of the `default` and `original` presets, inference MP/s
of the tiled pipeline on a big frame with its peak resident memory, and the
tiled pipeline's throughput relative to the bare model on whole tiles.
"""
from __future__ import annotations

import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

from ccdseg.core.classes import CLUSTER, GLOWING, HOT_PIXEL, N_CLASSES, to_one_hot
from ccdseg.model.crops import CropBatches
from ccdseg.evaluate import speed_commands
from ccdseg.evaluate.speed_commands import bare_model_mps, best_time, measure_fits_pipeline
from ccdseg.infer.runtime import openvino_installed
from ccdseg.model import predict
from ccdseg.model.normalisation import MATCHED_NORMALISATION, input_channels, normalise_frames
from ccdseg.model.training import TrainingSettings
from ccdseg.model.unet import build_preset
from ccdseg.simulate import thresholds
from ccdseg.simulate.cluster_library import load_cluster_library
from ccdseg.simulate.datasets import simulate_dataset, simulate_frames
from ccdseg.simulate.frame import simulate_frame
from ccdseg.simulate.parameters import SimulationParameters
from ccdseg.simulate.thresholds import get_mask

# %% Defaults
FRAME_SIZE_PX = 256
TRAIN_PRESETS = ("default", "original")


# %% Functions
def get_mask_per_pixel(images: np.ndarray, params=None) -> np.ndarray:
    """The threshold labels computed the original's way: a Python loop over every pixel.

    Kept only as the reference for `labelling_speedup`; use `simulate.thresholds.get_mask`.
    images (n, h, w) ADU -> one-hot (n, h, w, 4) float32, equal to `get_mask`.
    """
    params = params or SimulationParameters()
    pedestal = np.float32(params.pedestal_adu)
    sigma = np.float32(params.noise_sigma_adu)
    tol = thresholds.BAND_SIGMA * sigma
    glow_lo, glow_hi = params.glowing_adu
    hot = params.hot_pixel_adu
    cluster_min = np.float32(thresholds.CLUSTER_THRESHOLD_SIGMA) * sigma
    masks = np.zeros(images.shape + (N_CLASSES,), dtype=np.float32)
    for n in range(images.shape[0]):
        for i in range(images.shape[1]):
            for j in range(images.shape[2]):
                excess = images[n, i, j] - pedestal
                if abs(excess - hot) <= tol or (hot + glow_lo - tol <= excess <= hot + glow_hi + tol):
                    masks[n, i, j, HOT_PIXEL] = 1
                elif glow_lo - tol <= excess <= glow_hi + tol:
                    masks[n, i, j, GLOWING] = 1
                elif excess > 0 and excess >= cluster_min:
                    masks[n, i, j, CLUSTER] = 1
                else:
                    masks[n, i, j, 0] = 1
    return masks


def measure_labelling(frames: int) -> dict:
    """Seconds per 256 x 256 frame of `get_mask` and of the per-pixel loop, outputs asserted equal."""
    images, _, _ = simulate_frames(frames, speed_commands.SPEED_SEED, "mixed", progress=False)
    started = time.perf_counter()
    looped = get_mask_per_pixel(images)
    loop_s = time.perf_counter() - started
    vectorised = get_mask(images)
    if not np.array_equal(looped, vectorised):
        raise AssertionError("the per-pixel loop and get_mask disagree")
    vectorised_s = best_time(lambda: get_mask(images))
    return {
        "frames": frames,
        "loop_s_per_frame": loop_s / len(images),
        "vectorised_s_per_frame": vectorised_s / len(images),
        "labelling_speedup": loop_s / vectorised_s,
        "outputs_equal": True,
    }


def measure_simulation(frames: int) -> dict:
    """Simulated 256 x 256 `mixed` frames (with exact truth) per second."""
    library = load_cluster_library()
    seeds = np.random.SeedSequence(speed_commands.SPEED_SEED).spawn(frames)
    started = time.perf_counter()
    for child in seeds:
        simulate_frame(np.random.default_rng(child), None, "mixed", (FRAME_SIZE_PX, FRAME_SIZE_PX), library)
    seconds = time.perf_counter() - started
    return {"frames": frames, "size_px": FRAME_SIZE_PX, "frames_per_s": frames / seconds}


def measure_training(frames: int, steps: int) -> dict:
    """Training seconds per step, per epoch and per 1,000 frames of 256 x 256 px, of each preset's recipe.

    The default preset trains as `train.py` does now (`model.crops.CropBatches`:
    crops of `TrainingSettings().crop_px` in batches of `batch_size`,
    `steps_per_epoch` steps an epoch, the first `small_crop_epochs` on
    small crops of `small_crop_px`, timed apart); the original
    preset on whole frames in batches of 8, as the original. `frames`
    simulated frames feed both; one untimed warm-up step (graph building)
    per shape, then `steps` timed ones; validation is not timed. A frame is
    65,536 pixels, so a step of 2 crops of 256 px counts as 2 frames.
    """
    import keras

    settings = TrainingSettings()
    images, truth = simulate_dataset(frames, speed_commands.SPEED_SEED, "mixed", progress=False)
    x = normalise_frames(images, MATCHED_NORMALISATION)
    result = {}
    for preset in TRAIN_PRESETS:
        keras.utils.set_random_seed(speed_commands.SPEED_SEED)
        model = build_preset(preset, channels=input_channels(MATCHED_NORMALISATION))
        if preset == "default":
            data = CropBatches(x, truth, settings.batch_size, steps + 1, speed_commands.SPEED_SEED,
                               crop_px=settings.crop_px, small_epochs=settings.small_crop_epochs,
                               small_px=settings.small_crop_px)
            shapes = {"small": [data.batch(0, i) for i in range(steps + 1)] if settings.small_crop_epochs else [],
                      "full": [data.batch(settings.small_crop_epochs, i) for i in range(steps + 1)]}
        else:
            shapes = {"full": [(x[k:k + 8], to_one_hot(truth[k:k + 8]))
                               for k in range(0, min(len(x), 8 * (steps + 1)), 8)], "small": []}
        per_step = {shape: _seconds_per_step(model, batches) for shape, batches in shapes.items() if batches}
        batches = shapes["full"]
        frames_per_step = batches[0][0].shape[0] * batches[0][0].shape[1] * batches[0][0].shape[2] / FRAME_SIZE_PX**2
        epoch_steps = settings.steps_per_epoch if preset == "default" else -(-316 // 8)
        small_epochs = settings.small_crop_epochs if preset == "default" else 0
        epochs = settings.epochs if preset == "default" else 15
        fit_seconds = epoch_steps * (small_epochs * per_step.get("small", 0.0)
                                     + (epochs - small_epochs) * per_step["full"])
        result[preset] = {
            "s_per_step": per_step["full"],
            "s_per_small_step": per_step.get("small"),
            "s_per_epoch": per_step["full"] * epoch_steps,
            "s_per_fit": fit_seconds,
            "s_per_1000_frames": per_step["full"] * 1000 / frames_per_step,
            "timed_steps": len(batches) - 1,
            "batch": list(batches[0][0].shape[:3]),
            "parameters": int(model.count_params()),
        }
        print(f"speed: training {preset}: {per_step['full']:.2f} s a step, {result[preset]['s_per_epoch']:.0f} s an"
              f" epoch, {result[preset]['s_per_1000_frames']:.0f} s per 1,000 frames, {fit_seconds / 60:.1f} min the"
              " whole fit (validation not counted)")
        del model
        keras.backend.clear_session()
    return result


def _seconds_per_step(model, batches: list) -> float:
    """Mean seconds of `model.train_on_batch` over `batches[1:]`; the first is an untimed warm-up."""
    model.train_on_batch(*batches[0])
    started = time.perf_counter()
    for batch in batches[1:]:
        model.train_on_batch(*batch)
    return (time.perf_counter() - started) / max(len(batches) - 1, 1)


def _vm_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_during(function) -> tuple[float, float, float, str]:
    """Run `function`; return (seconds, RSS before MiB, peak RSS MiB, how the peak was measured)."""
    before = _vm_kib("VmRSS")
    if _reset_peak_rss() and before is not None:
        started = time.perf_counter()
        function()
        seconds = time.perf_counter() - started
        return seconds, before / 1024, _vm_kib("VmHWM") / 1024, "VmHWM of /proc/self/status, reset just before the call"
    started = time.perf_counter()
    function()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return seconds, float(before or 0) / 1024, peak, "getrusage ru_maxrss: peak of the whole process so far"


def measure_inference(segmenter, size_px: int, bare_tiles: int) -> dict:
    """Tiled-pipeline MP/s and peak RSS on one big simulated frame; bare-model MP/s on whole tiles.

    The pipeline (`Segmenter.segment`: normalise the whole frame, cut
    overlapping tiles, predict, keep tile centres) runs twice on the same
    frame: the first call includes building the model's graph, the second is
    the steady throughput. The bare model's speed is `speed_commands.bare_model_mps`.
    """
    size = size_px
    image = simulate_frame(np.random.default_rng(speed_commands.SPEED_SEED), None, "mixed", (size, size)).image
    started = time.perf_counter()
    segmenter.segment(image)
    first_s = time.perf_counter() - started
    maps = []  # the Keras float32 class map: the reference the other runtimes are compared with
    seconds, rss_before, rss_peak, how = peak_rss_during(lambda: maps.append(segmenter.segment(image)))

    bare_mps, tile, tiles = bare_model_mps(segmenter, image, bare_tiles)
    pipeline_mps = size * size / seconds / 1e6
    return {
        "frame_px": [size, size],
        "pipeline_first_call_s": first_s,
        "pipeline_s": seconds,
        "pipeline_mp_per_s": pipeline_mps,
        "rss_before_mib": rss_before,
        "peak_rss_mib": rss_peak,
        "peak_rss_method": how,
        "bare_tile_px": tile,
        "bare_tiles": tiles,
        "bare_batch_size": predict.PREDICT_BATCH_FRAMES,
        "bare_mp_per_s": bare_mps,
        "pipeline_over_bare": pipeline_mps / bare_mps,
        "runtimes": measure_runtimes(segmenter, image, maps[0], pipeline_mps),
        "fits_pipeline": measure_fits_pipeline(segmenter, image, maps[0], bare_mps),
    }


def measure_runtimes(segmenter, image: np.ndarray, reference: np.ndarray, keras_mps: float) -> dict:
    """The tiled pipeline run by OpenVINO (float32 and bfloat16) on the same frame: MP/s and agreement with Keras.

    Empty when OpenVINO is not installed. Agreement is the share of pixels
    whose class equals `reference`, the Keras float32 pipeline's map.
    """
    if not openvino_installed():
        return {}
    result = {}
    for precision in ("float32", "bfloat16"):
        fast = segmenter.with_runtime("openvino").with_precision(precision)
        fast.segment(image[:1024, :1024])
        started = time.perf_counter()
        classes = fast.segment(image)
        mps = image.size / (time.perf_counter() - started) / 1e6
        result[f"openvino {precision}"] = {"mp_per_s": mps, "over_keras": mps / keras_mps,
                                           "agreement": float(np.mean(classes == reference))}
        print(f"speed: openvino {precision}: {mps:.2f} MP/s ({mps / keras_mps:.2f} x Keras)")
    return result


def machine_info() -> dict:
    """What the figures were measured on."""
    import keras
    import tensorflow as tf

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "cpu": cpu,
        "cores_usable": cores,
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "gpus": gpus,
        "description": f"{cores}-core CPU, " + (f"{len(gpus)} GPU" if gpus else "no GPU"),
        "system": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
