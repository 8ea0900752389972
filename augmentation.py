"""Geometric augmentation of CCD frames and their label maps together (the original's augmentation.py).

Each frame and its label map get the same random flip or rotation by a
multiple of 90 degrees, a shift by whole pixels and, only if asked, a small
zoom, all nearest-neighbour (`ccdseg.model.augment`, albumentations in place
of the original's imgaug). Run, this script draws a few simulated frames
before and after:

    python augmentation.py --force     # Images/Outputs/augmentation_example.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ccdseg.core import paths
from ccdseg.core.errors import UserInputError, run_command
from ccdseg.core.safe_write import refuse_existing
from ccdseg.model import augment as augment_defaults
from ccdseg.model.augment import BORDERS, add_augmented_copies, augment, make_augmenter  # noqa: F401  (importable here)
from ccdseg.plots.labels import plot_before_after
from ccdseg.simulate.datasets import simulate_dataset

# %% Settings - edit here when running top to bottom in Spyder
OUTPUT = paths.OUTPUTS / "augmentation_example.png"
SEED = 1
EXAMPLE_COUNT = 3
MAX_SHIFT_PX = augment_defaults.MAX_SHIFT_PX
ZOOM = augment_defaults.ZOOM
BORDER = augment_defaults.BORDER


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Augment a few simulated frames and save the before/after figure."""
    parser = argparse.ArgumentParser(
        description="Show the augmentation on a few simulated frames.", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--count", type=int, default=EXAMPLE_COUNT, help="number of frames to show")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the frames and of the augmentation")
    parser.add_argument("--max-shift-px", type=int, default=MAX_SHIFT_PX)
    parser.add_argument("--zoom", type=float, default=ZOOM, help="zoom factors 1 +- this (0: no zoom)")
    parser.add_argument("--border", choices=BORDERS, default=BORDER)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the PNG to write")
    parser.add_argument("--no-show", action="store_true", help="do not open a window")
    parser.add_argument("--force", action="store_true", help="overwrite an existing figure")
    args = parser.parse_args(argv)

    def run() -> None:
        refuse_existing([args.output], args.force)
        if not 1 <= args.count <= 10:
            raise UserInputError(f"--count must be 1..10, not {args.count}")
        images, truth = simulate_dataset(args.count, args.seed, progress=False)
        new_images, new_truth = augment(images, truth, args.seed, args.max_shift_px, args.zoom, args.border)
        plot_before_after(images, truth, new_images, new_truth, args.output, show=not args.no_show)
        print(f"wrote {args.output}")

    return run_command(run)

if __name__ == "__main__":
    raise SystemExit(main())
