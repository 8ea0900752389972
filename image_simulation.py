"""Make simulated CCD data sets: frames in ADU and their exact truth class maps (the original's image_simulation.py).

    python image_simulation.py --count 200 --seed 1            # Images/Train/training_*
    python image_simulation.py --name test --count 42 --seed 2 # Images/Test/test_*

Writes `NAME_data.npy` (n, h, w) float32 ADU and `NAME_truth.npy` (n, h, w)
uint8 class ids; `--png` adds one PNG per frame, `--report` scores the
threshold labels of `mask.py` against the truth. The same seed gives
byte-identical files, and frame i does not depend on how many are made.
The simulation loop is `ccdseg.simulate.datasets.simulate_frames`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ccdseg.core import paths
from ccdseg.core.classes import format_percentages, get_percentages
from ccdseg.core.errors import run_command
from ccdseg.core.scoring import classification_report, score_labels
from ccdseg.io.arrays import holds_dataset, save_dataset
from ccdseg.simulate.datasets import check_request, simulate_dataset, simulate_frames  # noqa: F401  (the original's names)
from ccdseg.simulate.parameters import LAYOUTS, SimulationParameters
from ccdseg.simulate.populations import statistics_table
from ccdseg.simulate.thresholds import get_class

# %% Settings - edit here when running top to bottom in Spyder
COUNT = 200
SEED = 1
LAYOUT = "mixed"
NAME = "training"
SIZE = (256, 256)


# %% Functions
def default_folder(name: str) -> Path:
    """`Images/Test` for a set named 'test', otherwise `Images/Train`."""
    return paths.TEST_IMAGES if name.lower().startswith("test") else paths.TRAIN_IMAGES


def threshold_report(images: np.ndarray, truth: np.ndarray, params: SimulationParameters | None = None) -> str:
    """The classification report of the threshold labels against the exact truth."""
    labels = get_class(images, params)
    scores = score_labels(labels, truth)
    f1 = ", ".join(f"{name} {s['f1']:.3f}" for name, s in scores.items() if "f1" in s)
    return f"threshold labels vs truth, F1: {f1}\n" + classification_report(labels, truth)


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Simulate a data set and save it; print class percentages."""
    parser = argparse.ArgumentParser(description="Simulate CCD frames with exact truth labels.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--count", type=int, default=COUNT, help="number of frames")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the frames (0 or more)")
    parser.add_argument("--layout", choices=LAYOUTS, default=LAYOUT)
    parser.add_argument("--name", default=NAME, help="'training' or 'test' (sets the default folder)")
    parser.add_argument("--output", type=Path, default=None, help="folder (default Images/Train or Images/Test)")
    parser.add_argument("--size", type=int, nargs=2, default=SIZE, metavar=("H", "W"), help="frame size, px")
    parser.add_argument("--vary-physics", action="store_true", help="draw pedestal, noise, intensities per frame")
    parser.add_argument("--png", action="store_true", help="also write one PNG per frame")
    parser.add_argument("--report", action="store_true", help="score the threshold labels against the truth")
    parser.add_argument("--population-table", action="store_true",
                        help="print the cluster statistics of the held-out test populations and stop")
    parser.add_argument("--force", action="store_true", help="overwrite existing files that differ")
    args = parser.parse_args(argv)
    folder = args.output or default_folder(args.name)

    def run() -> None:
        if args.population_table:
            print(statistics_table(args.seed, args.count))
            return
        check_request(args.count, args.seed, tuple(args.size))
        images, truth = simulate_dataset(args.count, args.seed, args.layout, tuple(args.size),
                                         vary_physics=args.vary_physics)
        if not args.force and holds_dataset(folder, args.name, images, truth) and not args.png:
            print(f"unchanged: {folder / args.name}_data.npy and _truth.npy already hold these frames")
        else:
            written = save_dataset(images, truth, folder, args.name, force=args.force, png=args.png)
            print(f"wrote {written[0]} and {written[1]}" + (f" and {len(written) - 2} PNGs" if args.png else ""))
        print("class percentages: " + format_percentages(get_percentages(truth)))
        if args.report:
            print(threshold_report(images, truth))

    return run_command(run)


if __name__ == "__main__":
    raise SystemExit(main())
