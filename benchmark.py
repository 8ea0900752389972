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
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from benchmark_report import FRAME_SIZE_PX, headline, markdown_report
from benchmark_speed import machine_info, measure_inference, measure_labelling, measure_simulation, measure_training
from cluster_metrics import CHARGE_BINS_ADU, EFFICIENCY_TARGET, cluster_objects, cluster_summary
from errors import UserInputError, run_command
from figures import plot_efficiency
from image_simulation import simulate_frames
from mask import get_class, rule_labels
from safe_write import refuse_existing, save_text
from scoring import score_labels

# %% Settings - edit here when running top to bottom in Spyder
REPO = Path(__file__).resolve().parent
OUTPUT = REPO / "benchmark_output"
LAYOUT_SEEDS = {"mixed": 5001, "banded": 5002}  # apart from the training seeds
SIGMA_CUT = 3.0


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
    return simulate_frames(count, seed, layout, (size_px, size_px), progress=False)


def rule_methods() -> dict:
    """The classical labellers, name -> function(images (n, h, w) ADU) -> (n, h, w) uint8 class ids."""
    return {
        "threshold rule": lambda images: get_class(images),
        "hysteresis rule": lambda images: rule_labels(images, rule="hysteresis"),
        "3-sigma cut": lambda images: rule_labels(images, rule="sigma", n_sigma=SIGMA_CUT),
    }


# %% Quality
def measure_quality(models: dict, settings: BenchmarkSettings) -> tuple[dict, dict]:
    """Pixel scores per method and layout, and the cluster-object summary per method.

    models : name -> `Segmenter`. Returns (quality, clusters) for the report.
    """
    methods = {name: (lambda images, m=model: m.classes(images)) for name, model in models.items()}
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


def load_models(model_path: Path | None) -> tuple[dict, list[str]]:
    """The shipped model (when present) and the one given with --model, by report name.

    A missing shipped model is noted and skipped; a missing --model is the
    user's error (`UserInputError`).
    """
    from segmenter import DEFAULT_MODEL, Segmenter

    models, notes = {}, []
    shipped = Path(DEFAULT_MODEL)
    if model_path is not None and not Path(model_path).is_file():
        raise UserInputError(f"{model_path}: no such model file")
    if shipped.is_file():
        models["shipped model"] = Segmenter.load(shipped)
    else:
        notes.append(f"shipped model {shipped} not found: its rows are skipped")
    if model_path is not None and Path(model_path).resolve() != shipped.resolve():
        models[f"model {Path(model_path).name}"] = Segmenter.load(model_path)
    return models, notes


def run_benchmark(settings: BenchmarkSettings, model_path: Path | None, output: Path, quick: bool = False) -> dict:
    """Measure everything, write benchmark.json, benchmark.md and the efficiency plot to `output`."""
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    models, notes = load_models(model_path)
    for note in notes:
        print(f"note: {note}")
    quality, clusters = measure_quality(models, settings)
    speed = {"labelling": measure_labelling(settings.labelling_frames)}
    speed["labelling_speedup"] = speed["labelling"]["labelling_speedup"]
    print(f"speed: labelling speedup {speed['labelling_speedup']:,.0f} x")
    speed["simulation"] = measure_simulation(settings.simulation_frames)
    speed["training"] = measure_training(settings.train_frames, settings.train_epochs)
    if models:
        name, model = next(iter(models.items()))
        speed["inference"] = {"model": name, **measure_inference(model, settings.inference_size_px, settings.bare_tiles)}
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
    plot_efficiency(clusters, output / "cluster_efficiency.png")
    save_text(output / "benchmark.md", markdown_report(report), force=True)
    save_text(output / "benchmark.json", json.dumps(report, indent=1) + "\n", force=True)
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

    def run() -> None:
        for key, value in asdict(settings).items():
            if value < 1:
                raise UserInputError(f"{key} must be at least 1, not {value}")
        if settings.inference_size_px < 64:
            raise UserInputError(f"--inference-size must be at least 64 px, not {settings.inference_size_px}")
        if args.output.exists() and not args.output.is_dir():
            raise UserInputError(f"{args.output}: exists and is not a folder")
        refuse_existing([args.output / "benchmark.json"], args.force)
        started = time.perf_counter()
        report = run_benchmark(settings, args.model, args.output, quick=args.quick)
        print("\n".join(headline(report)))
        print(f"wrote {args.output / 'benchmark.json'}, benchmark.md, cluster_efficiency.png"
              f" in {time.perf_counter() - started:.0f} s")

    return run_command(run)

if __name__ == "__main__":
    raise SystemExit(main())
