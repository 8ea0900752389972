"""Measured quality and speed of the U-Net and the classical finders, side by side, in one run.

    python benchmark.py                                  # full run into benchmark_output/
    python benchmark.py --quick --output /tmp/bench      # CI: under 2 minutes
    python benchmark.py --model Models/mine.keras        # also score another model

Methods: the shipped model, any model given with --model, the original's
threshold labels (`mask.get_class`), and the classical cluster finders at
their best (`ccdseg.evaluate.finders`: the hysteresis rule, photutils' `detect_sources`
on the smoothed frame, a bank of Gaussian matched filters; glowing and hot
pixels excluded before labelling), each tuned on validation frames that no
test set shares.

Test sets: our simulator's `mixed` and `banded` layouts, and three held-out
populations no model was trained on (`ccdseg.simulate.populations`: another cluster
generator, other detector physics, both), scored pixel by pixel against the
exact truth and as cluster objects (`ccdseg.evaluate.cluster_metrics`: a true cluster is
found when any of its pixels is predicted cluster; a predicted component
touching no true cluster pixel is a fake).

Injection (`ccdseg.evaluate.injection`): point deposits of known charge in blank frames,
efficiency per charge with Clopper-Pearson intervals, and fake clusters per
blank frame: the physicist's figure of merit.

Speed (`ccdseg.evaluate.speed`): labelling, simulation, training seconds per
epoch, inference MP/s of the tiled pipeline with its peak memory.

Writes OUTPUT/benchmark.json, OUTPUT/benchmark.md, OUTPUT/cluster_efficiency.png
and OUTPUT/injection_efficiency.png.
"""
from __future__ import annotations

import argparse
import datetime
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ccdseg.core import paths
from ccdseg.core.errors import UserInputError, quiet_native_logs, run_command
from ccdseg.core.safe_write import refuse_existing, save_text
from ccdseg.core.scoring import score_labels
from ccdseg.evaluate.cluster_metrics import (
    CHARGE_BINS_ADU,
    EFFICIENCY_TARGET,
    clopper_pearson,
    cluster_objects,
    cluster_summary,
    object_scores,
)
from ccdseg.evaluate.finders import FINDERS, tune_finder
from ccdseg.evaluate.injection import injection_efficiency
from ccdseg.evaluate.report import FRAME_SIZE_PX, headline, markdown_report
from ccdseg.evaluate.speed import machine_info, measure_inference, measure_labelling, measure_simulation, measure_training
from ccdseg.evaluate.speed_commands import measure_ccd_file, measure_ccd_simulation
from ccdseg.evaluate.skipper_bench import classical_skipper_methods, measure_beyond_range, measure_skipper
from ccdseg.infer.model_choice import ModelChoice
from ccdseg.infer.segmenter import Segmenter
from ccdseg.plots.results import plot_efficiency, plot_injection
from ccdseg.simulate.datasets import simulate_frames
from ccdseg.simulate.populations import simulate_population
from ccdseg.simulate.thresholds import get_class

# %% Settings - edit here when running top to bottom in Spyder
OUTPUT = paths.BENCHMARK_OUTPUT
LAYOUT_SEEDS = {"mixed": 5001, "banded": 5002}  # apart from the training seeds
POPULATION_SEEDS = {"other-clusters": 5101, "other-physics": 5102, "both": 5103}  # held out: never trained on
VALIDATION_SEED = 6001  # the classical finders are tuned on these frames only
INJECTION_SEED = 7001
TUNED_FINDERS = {"hysteresis": "hysteresis rule", "photutils": "photutils", "matched_filter": "matched filter"}


@dataclass(frozen=True)
class BenchmarkSettings:
    """How much a run measures. `full()` for the README, `quick()` for CI (under 2 minutes)."""

    frames_per_layout: int = 40  # test frames of each layout and of each held-out population
    validation_frames: int = 20  # frames on which the classical finders are tuned
    injection_frames: int = 4  # frames per injected charge (25 deposits each)
    blank_frames: int = 20  # frames with nothing in them, for the fake rate
    labelling_frames: int = 4
    simulation_frames: int = 40
    train_frames: int = 20
    train_steps: int = 10  # timed training steps, after one untimed warm-up step
    inference_size_px: int = 4096
    bare_tiles: int = 16
    skipper_frames: int = 100  # DAMIC-M amplifier frames (320 x 640) over the whole range
    skipper_dark_frames: int = 24  # ... and at 2 electrons per pixel of dark current
    skipper_validation_frames: int = 4  # on which the classical methods are tuned for skipper frames
    skipper_beyond_frames: int = 20  # ... and for each case beyond the trained range (`skipper_bench.BEYOND_RANGE`)
    ccd_rows: int = 6144  # a whole DAMIC-M CCD simulated, for its time and memory

    @classmethod
    def full(cls) -> BenchmarkSettings:
        return cls()

    @classmethod
    def quick(cls) -> BenchmarkSettings:
        return cls(
            frames_per_layout=6,
            validation_frames=4,
            injection_frames=1,
            blank_frames=4,
            labelling_frames=1,
            simulation_frames=8,
            train_frames=4,
            train_steps=2,
            inference_size_px=1024,
            bare_tiles=4,
            skipper_frames=2,
            skipper_dark_frames=1,
            skipper_validation_frames=1,
            skipper_beyond_frames=1,
            ccd_rows=768,
        )


# %% Test sets and methods
def simulate_test_set(
    count: int, seed: int, layout: str, size_px: int = FRAME_SIZE_PX
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames as `image_simulation.simulate_dataset` makes them, with the deposited charge too.

    Returns images (n, h, w) float32 ADU, truth (n, h, w) uint8 class ids and
    cluster_adu (n, h, w) float32 deposited cluster charge, ADU.
    """
    return simulate_frames(count, seed, layout, (size_px, size_px), progress=False)


def test_sets(count: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Our simulator's layouts and the held-out populations (never trained on), `count` frames each."""
    sets = {layout: simulate_test_set(count, seed, layout) for layout, seed in LAYOUT_SEEDS.items()}
    for name, seed in POPULATION_SEEDS.items():
        sets[name] = simulate_population(name, count, seed)
    return sets


def classical_methods(validation_frames: int) -> tuple[dict, dict]:
    """The original's threshold rule and the classical finders at their best, tuned on validation frames.

    The finders' parameters are chosen on `validation_frames` `mixed` frames
    of seed `VALIDATION_SEED` (never a test seed) by the object-level cluster
    F1 (`ccdseg.evaluate.finders.tune_finder`). Returns (name -> labelling function, name ->
    tuned parameters and validation scores).
    """
    validation = simulate_test_set(validation_frames, VALIDATION_SEED, "mixed")
    methods = {"threshold rule": lambda images: get_class(images)}
    tuning = {}
    for finder, name in TUNED_FINDERS.items():
        parameters, scores = tune_finder(finder, *validation)
        methods[name] = lambda images, f=FINDERS[finder], p=parameters: f(images, None, **p)
        tuning[name] = {"parameters": parameters, "validation": scores}
        print(f"tuned {name}: {parameters} (validation object F1 {scores['f1']:.3f})")
    return methods, tuning


# %% Quality
def measure_quality(methods: dict, settings: BenchmarkSettings) -> tuple[dict, dict]:
    """Pixel scores and cluster objects per method and test set; our layouts also pooled.

    methods : name -> function (n, h, w) ADU -> (n, h, w) class ids.
    Returns (quality, clusters) for the report: pixel scores per set and for
    `all` (our two layouts), object scores per set, and the efficiency by
    deposited charge pooled over our layouts.
    """
    sets = test_sets(settings.frames_per_layout)
    seeds = {**LAYOUT_SEEDS, **POPULATION_SEEDS}
    quality = {
        "test_sets": {name: {"frames": settings.frames_per_layout, "seed": seeds[name], "size_px": FRAME_SIZE_PX,
                             "held_out": name in POPULATION_SEEDS} for name in sets},
        "truth": "exact simulated truth",
        "methods": {},
        "objects": {},
        "seconds_per_frame": {},
    }
    clusters = {"charge_bins_adu": CHARGE_BINS_ADU.tolist(), "target_efficiency": EFFICIENCY_TARGET, "methods": {}}
    for name, label in methods.items():
        started = time.perf_counter()
        predictions = {set_name: label(images) for set_name, (images, _, _) in sets.items()}
        quality["seconds_per_frame"][name] = (time.perf_counter() - started) / sum(len(s[0]) for s in sets.values())
        scores = {set_name: score_labels(predictions[set_name], sets[set_name][1]) for set_name in sets}
        scores["all"] = score_labels(
            np.concatenate([predictions[k] for k in LAYOUT_SEEDS]), np.concatenate([sets[k][1] for k in LAYOUT_SEEDS])
        )
        quality["methods"][name] = scores
        quality["objects"][name] = {k: object_scores(*sets[k], predictions[k]) for k in sets}
        objects = [
            cluster_objects(image, truth, charge, prediction)
            for layout in LAYOUT_SEEDS
            for image, truth, charge, prediction in zip(*sets[layout], predictions[layout])
        ]
        clusters["methods"][name] = cluster_summary(objects)
        print(f"quality: {name}: cluster F1 {scores['all']['cluster']['f1']:.3f} ({time.perf_counter() - started:.1f} s)")
    return quality, clusters


def measure_injection(methods: dict, settings: BenchmarkSettings) -> dict:
    """Efficiency against injected charge and fakes per blank frame, per method (`injection.py`)."""
    results = {}
    for name, label in methods.items():
        results[name] = injection_efficiency(
            label, frames_per_charge=settings.injection_frames, blank_count=settings.blank_frames, seed=INJECTION_SEED
        )
        cells = ", ".join(f"{q:g}: {e:.2f}" for q, e in zip(results[name]["charges_adu"], results[name]["efficiency"]))
        print(f"injection: {name}: {cells}; {results[name]['fakes_per_frame']:.2f} fakes per blank frame")
    return results


def load_models(model_path: Path | None) -> tuple[dict, list[str]]:
    """The shipped model (when present) and the one given with --model, by report name.

    A missing shipped model is noted and skipped; a missing --model is the
    user's error (`UserInputError`).
    """
    models, notes = {}, []
    shipped = paths.DEFAULT_MODEL
    if model_path is not None and not Path(model_path).is_file():
        raise UserInputError(f"{model_path}: no such model file")
    if shipped.is_file():
        models["shipped model"] = Segmenter.load(shipped)
    else:
        notes.append(f"shipped model {shipped} not found: its rows are skipped")
    if model_path is not None and Path(model_path).resolve() != shipped.resolve():
        models[f"model {Path(model_path).name}"] = Segmenter.load(model_path)
    return models, notes


def skipper_models(skipper_path: Path | None) -> dict:
    """The models scored on skipper frames: the shipped pair, each frame given its own (`ModelChoice`), and --skipper-model."""
    methods = {}
    if paths.DEFAULT_MODEL.is_file():
        choice = ModelChoice.load()
        label = "shipped models" if "skipper" in choice.models else "shipped model (no skipper model shipped)"
        methods[label] = lambda frame, c=choice: c.for_frame(frame)[0].segment(frame)
    if skipper_path is not None:
        if not Path(skipper_path).is_file():
            raise UserInputError(f"{skipper_path}: no such model file")
        segmenter = Segmenter.load(skipper_path)
        methods[f"model {Path(skipper_path).name}"] = segmenter.segment
    return methods


def run_skipper(settings: BenchmarkSettings, skipper_path: Path | None) -> dict:
    """The skipper-frame figures of the models and the tuned classical methods (`evaluate.skipper_bench`)."""
    methods = skipper_models(skipper_path)
    classical, tuning = classical_skipper_methods(settings.skipper_validation_frames)
    methods.update(classical)
    results = measure_skipper(methods, settings.skipper_frames, settings.skipper_dark_frames)
    results["tuning"] = tuning
    results["beyond_range"] = measure_beyond_range(methods, settings.skipper_beyond_frames)
    return results


def run_benchmark(settings: BenchmarkSettings, model_path: Path | None, output: Path, quick: bool = False,
                  skipper_path: Path | None = None) -> dict:
    """Measure everything, write benchmark.json, benchmark.md and the efficiency plot to `output`."""
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    models, notes = load_models(model_path)
    for note in notes:
        print(f"note: {note}")
    methods = {name: (lambda images, m=model: m.classes(images)) for name, model in models.items()}
    classical, tuning = classical_methods(settings.validation_frames)
    methods.update(classical)
    quality, clusters = measure_quality(methods, settings)
    quality["tuning"] = tuning
    injection = measure_injection(methods, settings)
    skipper = run_skipper(settings, skipper_path)
    speed = {"labelling": measure_labelling(settings.labelling_frames)}
    speed["labelling_speedup"] = speed["labelling"]["labelling_speedup"]
    print(f"speed: labelling speedup {speed['labelling_speedup']:,.0f} x")
    speed["simulation"] = measure_simulation(settings.simulation_frames)
    speed["ccd_simulation"] = measure_ccd_simulation((settings.ccd_rows, settings.ccd_rows // 4))
    speed["training"] = measure_training(settings.train_frames, settings.train_steps)
    if models:
        name, model = next(iter(models.items()))
        speed["inference"] = {"model": name, **measure_inference(model, settings.inference_size_px, settings.bare_tiles)}
        print(f"speed: inference {speed['inference']['pipeline_mp_per_s']:.2f} MP/s ({name})")
        choice = ModelChoice.load(None if paths.DEFAULT_MODEL.is_file() else model_path)  # the shipped pair
        speed["ccd_file"] = measure_ccd_file(choice, (settings.ccd_rows, settings.ccd_rows // 4), settings.bare_tiles)
    else:
        speed["inference"] = None
        speed["inference_skipped"] = "no model to run"
    report = {
        "quality": quality,
        "clusters": clusters,
        "injection": injection,
        "skipper": skipper,
        "speed": speed,
        "machine": machine_info(),
        "date": date,
        "settings": {**asdict(settings), "quick": quick},
        "notes": notes,
    }
    intervals = {name: clopper_pearson(np.array([b["found"] for b in summary["bins"] if b["true"]]),
                                       np.array([b["true"] for b in summary["bins"] if b["true"]]))
                 for name, summary in clusters["methods"].items()}
    plot_efficiency(clusters, intervals, EFFICIENCY_TARGET, output / "cluster_efficiency.png")
    plot_injection(injection, output / "injection_efficiency.png")
    save_text(output / "benchmark.md", markdown_report(report), force=True)
    save_text(output / "benchmark.json", json.dumps(report, indent=1) + "\n", force=True)
    return report


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report; print the headline numbers."""
    parser = argparse.ArgumentParser(
        description="Measure quality and speed of the model and the classical finders.", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sets and frames, under 2 minutes (CI)")
    parser.add_argument("--model", type=Path, default=None, help="also score this .keras model (2020 frames)")
    parser.add_argument("--skipper-model", type=Path, default=None, help="also score this .keras model on skipper frames")
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
        report = run_benchmark(settings, args.model, args.output, quick=args.quick, skipper_path=args.skipper_model)
        print("\n".join(headline(report)))
        print(f"wrote {args.output / 'benchmark.json'}, benchmark.md, cluster_efficiency.png"
              f" in {time.perf_counter() - started:.0f} s")

    return run_command(run)

if __name__ == "__main__":
    quiet_native_logs()
    raise SystemExit(main())
