"""Measured quality and speed of the U-Net and the classical rules, side by side, in one run.

    python benchmark.py                                  # full run into benchmark_output/
    python benchmark.py --quick --output /tmp/bench      # CI: under 2 minutes
    python benchmark.py --model Models/mine.keras        # also score another model

Quality: seeded test sets from our simulator (`mixed` and `banded` layouts),
scored pixel by pixel against the exact truth: the shipped model, the threshold
labels of `mask.py`, the hysteresis clustering rule (seed 4 sigma, grow 1.5
sigma, 8-connected), a plain 3-sigma cut, and any model given with --model.

Clusters as objects: 8-connected components of truth == cluster and of
prediction == cluster, per frame. A true cluster is found when any of its
pixels is predicted cluster; a predicted component touching no true cluster
pixel is a fake. The deposited charge of a true cluster is the simulated
cluster charge (ADU) summed over its component; the reconstructed charge is the
pedestal-subtracted frame (pedestal = frame median) summed over the predicted
components that overlap it.

Speed, measured side by side on this machine: threshold labelling vectorised
vs. a per-pixel loop in the original's style (outputs asserted equal),
simulated frames per second, training seconds per epoch per 100 frames of the
`default` and `original` presets, inference MP/s of the tiled pipeline on a big
frame with its peak resident memory, and the tiled pipeline's throughput
relative to the bare model on whole tiles.

Writes OUTPUT/benchmark.json, OUTPUT/benchmark.md and
OUTPUT/cluster_efficiency.png.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from mask import (
    CLASS_NAMES,
    CLUSTER,
    UserInputError,
    finish_figure,
    get_class,
    get_mask,
    rule_labels,
    score_labels,
)

# %% Settings - edit here when running top to bottom in Spyder
REPO = Path(__file__).resolve().parent
OUTPUT = REPO / "benchmark_output"
LAYOUT_SEEDS = {"mixed": 5001, "banded": 5002}  # apart from the training seeds
FRAME_SIZE_PX = 256
CHARGE_BINS_ADU = np.geomspace(10.0, 100000.0, 17)  # 4 bins a decade
EFFICIENCY_TARGET = 0.9
MIN_CLUSTERS_PER_BIN = 5  # fewer true clusters in a bin: too few to judge the 90 % point
SIGMA_CUT = 3.0
TRAIN_PRESETS = ("default", "original")
SPEED_SEED = 7
# the original's published scores: 42 test frames of its own simulator, its labels from its threshold rule
ORIGINAL_TABLE = {
    "background": (1.00, 0.99, 1.00, 2535931),
    "glowing": (1.00, 1.00, 1.00, 187442),
    "hot pixel": (0.99, 0.98, 0.95, 10594),
    "cluster": (0.44, 0.63, 0.52, 18545),
}


@dataclass(frozen=True)
class BenchmarkSettings:
    """How much a run measures. `full()` for the README, `quick()` for CI (under 2 minutes)."""

    frames_per_layout: int = 40
    labelling_frames: int = 4
    simulation_frames: int = 40
    train_frames: int = 20
    train_epochs: int = 2  # timed epochs, after one untimed warm-up epoch
    inference_size_px: int = 4096
    bare_tiles: int = 16

    @classmethod
    def full(cls) -> BenchmarkSettings:
        return cls()

    @classmethod
    def quick(cls) -> BenchmarkSettings:
        return cls(
            frames_per_layout=6,
            labelling_frames=1,
            simulation_frames=8,
            train_frames=4,
            train_epochs=1,
            inference_size_px=1024,
            bare_tiles=4,
        )


# %% Test sets
def simulate_test_set(
    count: int, seed: int, layout: str, size_px: int = FRAME_SIZE_PX
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames as `image_simulation.simulate_dataset` makes them, with the deposited charge too.

    Returns images (n, h, w) float32 ADU, truth (n, h, w) uint8 class ids and
    cluster_adu (n, h, w) float32 deposited cluster charge, ADU.
    """
    from image_details import load_cluster_library, simulate_frame

    library = load_cluster_library()
    shape = (count, size_px, size_px)
    images = np.empty(shape, dtype=np.float32)
    truth = np.empty(shape, dtype=np.uint8)
    cluster_adu = np.empty(shape, dtype=np.float32)
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(count)):
        frame = simulate_frame(np.random.default_rng(child), None, layout, (size_px, size_px), library)
        images[i], truth[i], cluster_adu[i] = frame.image, frame.truth, frame.cluster_adu
    return images, truth, cluster_adu


def rule_methods() -> dict:
    """The classical labellers, name -> function(images (n, h, w) ADU) -> (n, h, w) uint8 class ids."""
    return {
        "threshold rule": lambda images: get_class(images),
        "hysteresis rule": lambda images: rule_labels(images, rule="hysteresis"),
        "3-sigma cut": lambda images: rule_labels(images, rule="sigma", n_sigma=SIGMA_CUT),
    }


# %% Clusters as objects
def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    from scipy import ndimage

    return ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))


def cluster_objects(image: np.ndarray, truth: np.ndarray, cluster_adu: np.ndarray, prediction: np.ndarray) -> dict:
    """Match true and predicted clusters of one frame as 8-connected components.

    image (h, w) ADU, truth and prediction (h, w) class ids, cluster_adu (h, w)
    deposited charge ADU. Returns per true cluster `charge_adu`, `found` and
    `reconstructed_adu` (k,) arrays, and the numbers of `predicted` and `fake`
    predicted clusters.
    """
    from scipy import ndimage

    true_labels, n_true = _components(truth == CLUSTER)
    pred_labels, n_pred = _components(prediction == CLUSTER)
    true_index = np.arange(1, n_true + 1)
    pred_index = np.arange(1, n_pred + 1)
    charge = np.asarray(ndimage.sum_labels(cluster_adu, true_labels, true_index), dtype=np.float64)
    found = np.asarray(ndimage.maximum(prediction == CLUSTER, true_labels, true_index), dtype=bool)
    touches_truth = np.asarray(ndimage.maximum(truth == CLUSTER, pred_labels, pred_index), dtype=bool)
    excess = image.astype(np.float64) - float(np.median(image))
    pred_charge = np.zeros(n_pred + 1)
    pred_charge[1:] = ndimage.sum_labels(excess, pred_labels, pred_index)
    both = (true_labels > 0) & (pred_labels > 0)
    pairs = np.unique(np.stack([true_labels[both], pred_labels[both]]), axis=1)
    reconstructed = np.bincount(pairs[0], weights=pred_charge[pairs[1]], minlength=n_true + 1)[1:]
    return {
        "charge_adu": charge.reshape(-1),
        "found": found.reshape(-1),
        "reconstructed_adu": reconstructed,
        "predicted": int(n_pred),
        "fake": int(n_pred - np.count_nonzero(touches_truth)),
    }


def efficiency_threshold(
    edges_adu: np.ndarray, true_counts: np.ndarray, found_counts: np.ndarray, target: float = EFFICIENCY_TARGET
) -> tuple[float | None, str]:
    """Deposited charge (ADU) above which the detection efficiency stays >= `target`.

    Only bins with at least MIN_CLUSTERS_PER_BIN true clusters count. The
    crossing is interpolated linearly in log(charge) between bin centres.
    Returns (charge or None, how): 'interpolated', 'below the first bin' (the
    value is that bin's lower edge, an upper bound) or 'not reached'.
    """
    true_counts, found_counts = np.asarray(true_counts), np.asarray(found_counts)
    used = np.flatnonzero(true_counts >= MIN_CLUSTERS_PER_BIN)
    if used.size == 0:
        return None, "not reached"
    centres = np.sqrt(edges_adu[:-1] * edges_adu[1:])[used]
    eff = found_counts[used] / true_counts[used]
    below = np.flatnonzero(eff < target)
    if below.size == 0:
        return float(edges_adu[used[0]]), "below the first bin"
    last = below[-1]
    if last == used.size - 1:
        return None, "not reached"
    fraction = (target - eff[last]) / (eff[last + 1] - eff[last])
    log_charge = math.log(centres[last]) + fraction * (math.log(centres[last + 1]) - math.log(centres[last]))
    return float(math.exp(log_charge)), "interpolated"


def _quantiles(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"median": None, "p16": None, "p84": None, "count": 0}
    p16, median, p84 = np.percentile(values, [16, 50, 84])
    return {"median": float(median), "p16": float(p16), "p84": float(p84), "count": int(values.size)}


def cluster_summary(objects: list[dict], edges_adu: np.ndarray = CHARGE_BINS_ADU) -> dict:
    """Pool per-frame `cluster_objects` results: efficiency by charge bin, fakes, charge error."""
    charge = np.concatenate([o["charge_adu"] for o in objects])
    found = np.concatenate([o["found"] for o in objects])
    reconstructed = np.concatenate([o["reconstructed_adu"] for o in objects])
    bin_of = np.clip(np.searchsorted(edges_adu, charge, side="right") - 1, 0, len(edges_adu) - 2)
    n_bins = len(edges_adu) - 1
    true_counts = np.bincount(bin_of, minlength=n_bins)
    found_counts = np.bincount(bin_of[found], minlength=n_bins)
    relative_error = (reconstructed[found] - charge[found]) / charge[found]
    bins = []
    for b in range(n_bins):
        in_bin = bin_of[found] == b
        bins.append(
            {
                "low_adu": float(edges_adu[b]),
                "high_adu": float(edges_adu[b + 1]),
                "true": int(true_counts[b]),
                "found": int(found_counts[b]),
                "efficiency": float(found_counts[b] / true_counts[b]) if true_counts[b] else None,
                "median_charge_error": float(np.median(relative_error[in_bin])) if in_bin.any() else None,
            }
        )
    threshold, how = efficiency_threshold(edges_adu, true_counts, found_counts)
    frames = len(objects)
    fake = sum(o["fake"] for o in objects)
    return {
        "frames": frames,
        "true_clusters": int(charge.size),
        "found": int(found.sum()),
        "efficiency": float(found.mean()) if charge.size else None,
        "predicted_clusters": int(sum(o["predicted"] for o in objects)),
        "fake_clusters": int(fake),
        "fake_per_frame": fake / frames,
        "efficiency_90_adu": threshold,
        "efficiency_90_how": how,
        "charge_error": _quantiles(relative_error),
        "bins": bins,
    }


def clopper_pearson(found: np.ndarray, total: np.ndarray, level: float = 0.68) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial interval (central, `level`) of efficiencies found / total, (k,) each."""
    from scipy.stats import beta

    tail = (1 - level) / 2
    low = np.where(found > 0, beta.ppf(tail, found, total - found + 1), 0.0)
    high = np.where(found < total, beta.ppf(1 - tail, found + 1, total - found), 1.0)
    return np.nan_to_num(low), np.nan_to_num(high, nan=1.0)


def plot_efficiency(clusters: dict, path: Path, title: str = "") -> None:
    """Cluster detection efficiency vs. deposited charge, one line per method, saved as PNG."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for name, summary in clusters["methods"].items():
        rows = [b for b in summary["bins"] if b["true"]]
        centres = np.array([math.sqrt(b["low_adu"] * b["high_adu"]) for b in rows])
        eff = np.array([b["efficiency"] for b in rows])
        low, high = clopper_pearson(np.array([b["found"] for b in rows]), np.array([b["true"] for b in rows]))
        ax.errorbar(centres, eff, yerr=[eff - low, high - eff], marker="o", markersize=4, capsize=2, label=name)
    ax.axhline(EFFICIENCY_TARGET, color="grey", linestyle=":", label=f"{EFFICIENCY_TARGET:.0%}")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.04)
    ax.set_xlabel("deposited cluster charge (ADU)")
    ax.set_ylabel("detection efficiency (68 % interval)")
    ax.set_title(title or "true clusters found (8-connected components)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    finish_figure(fig, path, show=False)


# %% Quality
def measure_quality(models: dict, settings: BenchmarkSettings) -> tuple[dict, dict]:
    """Pixel scores per method and layout, and the cluster-object summary per method.

    models : name -> loaded Keras model. Returns (quality, clusters) for the report.
    """
    from load_model import predict_classes

    methods = {name: (lambda images, m=model: predict_classes(m, images)) for name, model in models.items()}
    methods.update(rule_methods())
    sets = {
        layout: simulate_test_set(settings.frames_per_layout, seed, layout) for layout, seed in LAYOUT_SEEDS.items()
    }
    quality = {
        "test_sets": {
            layout: {"frames": settings.frames_per_layout, "seed": seed, "size_px": FRAME_SIZE_PX}
            for layout, seed in LAYOUT_SEEDS.items()
        },
        "truth": "exact simulated truth",
        "methods": {},
    }
    clusters = {"charge_bins_adu": CHARGE_BINS_ADU.tolist(), "target_efficiency": EFFICIENCY_TARGET, "methods": {}}
    for name, label in methods.items():
        started = time.perf_counter()
        predictions = {layout: label(images) for layout, (images, _, _) in sets.items()}
        scores = {layout: score_labels(predictions[layout], sets[layout][1]) for layout in sets}
        scores["all"] = score_labels(
            np.concatenate(list(predictions.values())), np.concatenate([truth for _, truth, _ in sets.values()])
        )
        quality["methods"][name] = scores
        objects = [
            cluster_objects(image, truth, charge, prediction)
            for layout, (images, truths, charges) in sets.items()
            for image, truth, charge, prediction in zip(images, truths, charges, predictions[layout])
        ]
        clusters["methods"][name] = cluster_summary(objects)
        print(f"quality: {name}: cluster F1 {scores['all']['cluster']['f1']:.3f} ({time.perf_counter() - started:.1f} s)")
    return quality, clusters


# %% Speed
def get_mask_per_pixel(images: np.ndarray, params=None) -> np.ndarray:
    """The threshold labels computed the original's way: a Python loop over every pixel.

    Kept only as the reference for `labelling_speedup`; use `mask.get_mask`.
    images (n, h, w) ADU -> one-hot (n, h, w, 4) float32, equal to `get_mask`.
    """
    from image_details import SimulationParameters
    from mask import BAND_SIGMA, CLUSTER_THRESHOLD_SIGMA, GLOWING, HOT_PIXEL

    params = params or SimulationParameters()
    pedestal = np.float32(params.pedestal_adu)
    sigma = np.float32(params.noise_sigma_adu)
    tol = BAND_SIGMA * sigma
    glow_lo, glow_hi = params.glowing_adu
    hot = params.hot_pixel_adu
    cluster_min = np.float32(CLUSTER_THRESHOLD_SIGMA) * sigma
    masks = np.zeros(images.shape + (4,), dtype=np.float32)
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


def _best_time(function, repeats: int = 5) -> float:
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def measure_labelling(settings: BenchmarkSettings) -> dict:
    """Seconds per 256 x 256 frame of `get_mask` and of the per-pixel loop, outputs asserted equal."""
    images, _, _ = simulate_test_set(settings.labelling_frames, SPEED_SEED, "mixed")
    started = time.perf_counter()
    looped = get_mask_per_pixel(images)
    loop_s = time.perf_counter() - started
    vectorised = get_mask(images)
    if not np.array_equal(looped, vectorised):
        raise AssertionError("the per-pixel loop and get_mask disagree")
    vectorised_s = _best_time(lambda: get_mask(images))
    return {
        "frames": settings.labelling_frames,
        "loop_s_per_frame": loop_s / len(images),
        "vectorised_s_per_frame": vectorised_s / len(images),
        "labelling_speedup": loop_s / vectorised_s,
        "outputs_equal": True,
    }


def measure_simulation(settings: BenchmarkSettings) -> dict:
    """Simulated 256 x 256 `mixed` frames (with exact truth) per second."""
    from image_details import load_cluster_library, simulate_frame

    library = load_cluster_library()
    seeds = np.random.SeedSequence(SPEED_SEED).spawn(settings.simulation_frames)
    started = time.perf_counter()
    for child in seeds:
        simulate_frame(np.random.default_rng(child), None, "mixed", (FRAME_SIZE_PX, FRAME_SIZE_PX), library)
    seconds = time.perf_counter() - started
    return {"frames": settings.simulation_frames, "size_px": FRAME_SIZE_PX, "frames_per_s": settings.simulation_frames / seconds}


def measure_training(settings: BenchmarkSettings) -> dict:
    """Training seconds per epoch per 100 frames (256 x 256) of each preset.

    The frames go through train.py's input pipeline (`train.training_dataset`:
    shuffle, turns, flips, batches of `train.BATCH_SIZE`); validation is not
    timed. One untimed warm-up epoch (graph building), then `train_epochs`
    timed ones.
    """
    import keras

    from image_simulation import simulate_dataset
    from models import build_preset, normalise_frames
    from train import BATCH_SIZE, training_dataset

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    images, truth = simulate_dataset(settings.train_frames, SPEED_SEED, "mixed", progress=False)
    data = training_dataset(normalise_frames(images), truth, BATCH_SIZE, SPEED_SEED)
    result = {}
    for preset in TRAIN_PRESETS:
        keras.utils.set_random_seed(SPEED_SEED)
        model = build_preset(preset)
        model.fit(data, epochs=1, verbose=0, shuffle=False)
        timer = EpochTimer()
        model.fit(data, epochs=settings.train_epochs, verbose=0, shuffle=False, callbacks=[timer])
        per_epoch = float(np.mean(timer.seconds))
        result[preset] = {
            "s_per_epoch_per_100_frames": per_epoch * 100 / settings.train_frames,
            "frames": settings.train_frames,
            "timed_epochs": settings.train_epochs,
            "batch_size": BATCH_SIZE,
            "parameters": int(model.count_params()),
        }
        print(f"speed: training {preset}: {result[preset]['s_per_epoch_per_100_frames']:.1f} s per epoch per 100 frames")
        del model
        keras.backend.clear_session()
    return result


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


def measure_inference(model, settings: BenchmarkSettings) -> dict:
    """Tiled-pipeline MP/s and peak RSS on one big simulated frame; bare-model MP/s on whole tiles.

    The pipeline (`load_model.segment_frame`: normalise the whole frame, cut
    overlapping tiles, predict, keep tile centres) runs twice on the same
    frame: the first call includes building the model's graph, the second is
    the steady throughput. The bare model gets the already normalised frame
    cut into non-overlapping tiles of the pipeline's tile size, through the
    same `predict_on_batch` call.
    """
    from image_details import simulate_frame
    from load_dataset import TILE_SIZE_PX
    from load_model import BATCH_SIZE, model_multiple, segment_frame
    from models import normalise_frames

    size = settings.inference_size_px
    image = simulate_frame(np.random.default_rng(SPEED_SEED), None, "mixed", (size, size)).image
    started = time.perf_counter()
    segment_frame(model, image)
    first_s = time.perf_counter() - started
    seconds, rss_before, rss_peak, how = peak_rss_during(lambda: segment_frame(model, image))

    tile = min(TILE_SIZE_PX, size) // model_multiple(model) * model_multiple(model)
    per_side = size // tile
    normalised = normalise_frames(image, getattr(model, "ccd_card", {}).get("normalisation"))
    tiles = normalised[: per_side * tile, : per_side * tile].reshape(per_side, tile, per_side, tile)
    tiles = tiles.transpose(0, 2, 1, 3).reshape(-1, tile, tile)[: settings.bare_tiles, ..., None]
    model.predict_on_batch(tiles[:BATCH_SIZE])  # warm-up

    def bare():
        for start in range(0, len(tiles), BATCH_SIZE):
            model.predict_on_batch(tiles[start : start + BATCH_SIZE])

    bare_s = _best_time(bare, repeats=1)
    pipeline_mps = size * size / seconds / 1e6
    bare_mps = len(tiles) * tile * tile / bare_s / 1e6
    return {
        "frame_px": [size, size],
        "pipeline_first_call_s": first_s,
        "pipeline_s": seconds,
        "pipeline_mp_per_s": pipeline_mps,
        "rss_before_mib": rss_before,
        "peak_rss_mib": rss_peak,
        "peak_rss_method": how,
        "bare_tile_px": tile,
        "bare_tiles": int(len(tiles)),
        "bare_batch_size": BATCH_SIZE,
        "bare_mp_per_s": bare_mps,
        "pipeline_over_bare": pipeline_mps / bare_mps,
    }


# %% Report
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


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _charge(value, how: str) -> str:
    if value is None:
        return "not reached"
    return f"<= {value:,.0f}" if how.startswith("below") else f"{value:,.0f}"


def headline(report: dict) -> list[str]:
    """The few numbers a newcomer asks for first, one per line."""
    lines = []
    for name, scores in report["quality"]["methods"].items():
        summary = report["clusters"]["methods"][name]
        lines.append(
            f"{name}: cluster F1 {scores['all']['cluster']['f1']:.3f}, 90 % efficiency above "
            f"{_charge(summary['efficiency_90_adu'], summary['efficiency_90_how'])} ADU, "
            f"{summary['fake_per_frame']:.2f} fake clusters per frame"
        )
    speed = report["speed"]
    lines.append(f"labelling speedup (get_mask vs per-pixel loop): {speed['labelling']['labelling_speedup']:,.0f} x")
    if speed.get("inference"):
        inference = speed["inference"]
        lines.append(
            f"inference: {inference['pipeline_mp_per_s']:.2f} MP/s on {inference['frame_px'][0]} x "
            f"{inference['frame_px'][1]}, peak RSS {inference['peak_rss_mib']:,.0f} MiB"
        )
    return lines


def markdown_report(report: dict) -> str:
    """The report's tables in Markdown, ready to paste into the README."""
    quality, clusters, speed, machine = report["quality"], report["clusters"], report["speed"], report["machine"]
    sets = quality["test_sets"]
    set_text = " + ".join(f"{s['frames']} `{layout}`" for layout, s in sets.items())
    out = [
        "# Benchmark",
        "",
        f"{report['date']}, {machine['description']} ({machine['cpu']}), "
        f"{'quick run' if report['settings']['quick'] else 'full run'}.",
        "",
    ]
    out += [f"- {line}" for line in report["notes"]]
    out.append("- settings: " + ", ".join(f"{k} {v}" for k, v in report["settings"].items()))
    out += [
        "",
        f"## Pixel scores ({set_text} simulated {FRAME_SIZE_PX} x {FRAME_SIZE_PX} frames, exact truth)",
        "",
        "| method | class | precision | recall | F1 | IoU | support |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, scores in quality["methods"].items():
        for cname in CLASS_NAMES:
            s = scores["all"][cname]
            out.append(
                f"| {name} | {cname} | {_fmt(s['precision'])} | {_fmt(s['recall'])} | {_fmt(s['f1'])} "
                f"| {_fmt(s['iou'])} | {_fmt(s['support'])} |"
            )
    out += ["", "Cluster F1 by layout:", "", "| method | " + " | ".join(list(sets) + ["all"]) + " |"]
    out.append("|---" * (len(sets) + 2) + "|")
    for name, scores in quality["methods"].items():
        out.append(f"| {name} | " + " | ".join(_fmt(scores[k]["cluster"]["f1"]) for k in list(sets) + ["all"]) + " |")
    out += [
        "",
        "The original's published table (42 frames of its own simulator; its labels came from its threshold rule):",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    out += [f"| {c} | {p:.2f} | {r:.2f} | {f:.2f} | {n:,} |" for c, (p, r, f, n) in ORIGINAL_TABLE.items()]
    out += [
        "",
        "## Clusters as objects (8-connected components, per frame)",
        "",
        "| method | true clusters | found | efficiency | 90 % efficiency above (ADU) | fake clusters / frame "
        "| charge error median [16 %, 84 %] |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in clusters["methods"].items():
        error = s["charge_error"]
        spread = "-" if error["median"] is None else f"{error['median']:+.3f} [{error['p16']:+.3f}, {error['p84']:+.3f}]"
        out.append(
            f"| {name} | {s['true_clusters']:,} | {s['found']:,} | {_fmt(s['efficiency'])} "
            f"| {_charge(s['efficiency_90_adu'], s['efficiency_90_how'])} | {s['fake_per_frame']:.2f} | {spread} |"
        )
    names = list(clusters["methods"])
    out += [
        "",
        "Detection efficiency by deposited charge (charge error = reconstructed / deposited - 1, "
        "reconstructed = pedestal-subtracted ADU summed over the overlapping predicted components):",
        "",
        "| deposited charge (ADU) | true clusters | " + " | ".join(names) + " |",
        "|---" * (len(names) + 2) + "|",
    ]
    first = clusters["methods"][names[0]]["bins"]
    for b, row in enumerate(first):
        if row["true"]:
            cells = [_fmt(clusters["methods"][n]["bins"][b]["efficiency"], 2) for n in names]
            out.append(f"| {row['low_adu']:,.0f} - {row['high_adu']:,.0f} | {row['true']} | " + " | ".join(cells) + " |")
    out += ["", "![cluster detection efficiency](cluster_efficiency.png)", "", "## Speed", "", "| measure | value |", "|---|---|"]
    labelling = speed["labelling"]
    out += [
        f"| threshold labelling, per-pixel loop | {labelling['loop_s_per_frame'] * 1e3:,.1f} ms per frame |",
        f"| threshold labelling, `get_mask` | {labelling['vectorised_s_per_frame'] * 1e3:,.2f} ms per frame |",
        f"| labelling speedup | {labelling['labelling_speedup']:,.0f} x |",
        f"| simulation | {speed['simulation']['frames_per_s']:,.1f} frames/s ({FRAME_SIZE_PX} x {FRAME_SIZE_PX}) |",
    ]
    for preset, t in speed["training"].items():
        out.append(
            f"| training `{preset}` preset | {t['s_per_epoch_per_100_frames']:,.1f} s per epoch per 100 frames "
            f"(batch {t['batch_size']}, {t['parameters']:,} parameters) |"
        )
    inference = speed.get("inference")
    if inference:
        h, w = inference["frame_px"]
        out += [
            f"| inference, tiled pipeline, {h} x {w} frame | {inference['pipeline_mp_per_s']:.2f} MP/s "
            f"({inference['pipeline_s']:.1f} s; first call, building the graph: {inference['pipeline_first_call_s']:.1f} s) |",
            f"| peak RSS during it | {inference['peak_rss_mib']:,.0f} MiB (before: {inference['rss_before_mib']:,.0f} MiB) |",
            f"| bare model, {inference['bare_tiles']} x {inference['bare_tile_px']} px tiles "
            f"| {inference['bare_mp_per_s']:.2f} MP/s |",
            f"| tiled pipeline / bare model | {inference['pipeline_over_bare']:.2f} |",
        ]
    else:
        out.append(f"| inference | {speed.get('inference_skipped', 'not measured')} |")
    out += ["", "## Headline", ""] + [f"- {line}" for line in headline(report)]
    return "\n".join(out) + "\n"


def load_models(model_path: Path | None) -> tuple[dict, list[str]]:
    """The shipped model (when present) and the one given with --model, by report name.

    A missing shipped model is noted and skipped; a missing --model is the
    user's error (`UserInputError`).
    """
    import load_model

    models, notes = {}, []
    shipped = Path(load_model.DEFAULT_MODEL)
    if model_path is not None and not Path(model_path).is_file():
        raise UserInputError(f"{model_path}: no such model file")
    if shipped.is_file():
        models["shipped model"] = load_model.load_trained_model(shipped)
    else:
        notes.append(f"shipped model {shipped} not found: its rows are skipped")
    if model_path is not None and Path(model_path).resolve() != shipped.resolve():
        models[f"model {Path(model_path).name}"] = load_model.load_trained_model(model_path)
    return models, notes


def run_benchmark(settings: BenchmarkSettings, model_path: Path | None, output: Path, quick: bool = False) -> dict:
    """Measure everything, write benchmark.json, benchmark.md and the efficiency plot to `output`."""
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    models, notes = load_models(model_path)
    for note in notes:
        print(f"note: {note}")
    quality, clusters = measure_quality(models, settings)
    speed = {"labelling": measure_labelling(settings)}
    speed["labelling_speedup"] = speed["labelling"]["labelling_speedup"]
    print(f"speed: labelling speedup {speed['labelling_speedup']:,.0f} x")
    speed["simulation"] = measure_simulation(settings)
    speed["training"] = measure_training(settings)
    if models:
        name, model = next(iter(models.items()))
        speed["inference"] = {"model": name, **measure_inference(model, settings)}
        print(f"speed: inference {speed['inference']['pipeline_mp_per_s']:.2f} MP/s ({name})")
    else:
        speed["inference"] = None
        speed["inference_skipped"] = "no model to run"
    report = {
        "quality": quality,
        "clusters": clusters,
        "speed": speed,
        "machine": machine_info(),
        "date": date,
        "settings": {**asdict(settings), "quick": quick},
        "notes": notes,
    }
    output.mkdir(parents=True, exist_ok=True)
    plot_efficiency(clusters, output / "cluster_efficiency.png")
    (output / "benchmark.md").write_text(markdown_report(report))
    (output / "benchmark.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report; print the headline numbers."""
    parser = argparse.ArgumentParser(description="Measure quality and speed of the model and the classical rules.")
    parser.add_argument("--quick", action="store_true", help="small sets and frames, under 2 minutes (CI)")
    parser.add_argument("--model", type=Path, default=None, help="also score this .keras model")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="folder for benchmark.json/.md and the plot")
    parser.add_argument("--frames", type=int, default=None, help="test frames per layout (default 40, quick 6)")
    parser.add_argument("--inference-size", type=int, default=None, help="side of the inference frame, px")
    parser.add_argument("--train-frames", type=int, default=None, help="frames per timed training epoch")
    parser.add_argument("--force", action="store_true", help="overwrite an existing report")
    args = parser.parse_args(argv)
    settings = BenchmarkSettings.quick() if args.quick else BenchmarkSettings.full()
    overrides = {"frames_per_layout": args.frames, "inference_size_px": args.inference_size, "train_frames": args.train_frames}
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    try:
        for key, value in asdict(settings).items():
            if value < 1:
                raise UserInputError(f"{key} must be at least 1, not {value}")
        if settings.inference_size_px < 64:
            raise UserInputError(f"--inference-size must be at least 64 px, not {settings.inference_size_px}")
        if args.output.exists() and not args.output.is_dir():
            raise UserInputError(f"{args.output}: exists and is not a folder")
        if (args.output / "benchmark.json").exists() and not args.force:
            raise UserInputError(f"{args.output / 'benchmark.json'}: exists; use --force to overwrite")
        started = time.perf_counter()
        report = run_benchmark(settings, args.model, args.output, quick=args.quick)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(headline(report)))
    print(f"wrote {args.output / 'benchmark.json'}, benchmark.md, cluster_efficiency.png in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
