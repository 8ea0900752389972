"""One simulated CCD frame, built from separate physical components (the original's image_details.py).

A frame is pedestal + readout noise + dark current + glowing columns + hot
pixels + clusters, converted to ADU; each component is kept apart while the
frame is built, so the exact truth class of every pixel is known. Two kinds
of frame: the 2020 DAMIC kind (`--detector damic-2020`, the original's
values: `ccdseg.simulate.parameters`, `components`, `frame`) and skipper-CCD
amplifier frames of DAMIC-M (`--detector damic-m`: `ccdseg.simulate.detector`,
`deposits`, `skipper`), in electrons. This script keeps the original's names,
draws one frame with its truth and charge distribution, and rewrites the
cluster library `Cluster.pkl` of the 2020 kind from a seed:

    python image_details.py --detector damic-m --figure Images/Outputs/frame.png
    python image_details.py --seed 0 --force          # rewrite Cluster.pkl
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ccdseg.core import paths
from ccdseg.core.errors import UserInputError, run_command
from ccdseg.core.safe_write import refuse_existing
from ccdseg.plots.labels import visualize_label
from ccdseg.plots.results import plot_pixel_histogram
from ccdseg.simulate import cluster_library
from ccdseg.simulate.cluster_library import library_statistics, make_cluster_library, save_cluster_library
from ccdseg.simulate.components import (  # noqa: F401  (the original's names, importable from here)
    charge_transfer_losses,
    dark_current,
    glowing_columns,
    hot_pixel_segments,
    paste_clusters,
    reduce_image,
)
from ccdseg.simulate.detector import PRESETS, Detector
from ccdseg.simulate.frame import Frame, simulate_frame  # noqa: F401
from ccdseg.simulate.parameters import SimulationParameters, noise_free, random_parameters  # noqa: F401
from ccdseg.simulate.skipper import simulate_skipper_frame

# %% Settings - edit here when running top to bottom in Spyder
LIBRARY_SEED = cluster_library.LIBRARY_SEED
LIBRARY_SIZE = cluster_library.LIBRARY_SIZE  # stamps
LIBRARY_OUTPUT = paths.CLUSTER_LIBRARY
DETECTOR = "damic-2020"
FRAME_SEED = 2


# %% The original's plot, and one frame drawn
def plot_charge_distribution(frame: Frame, path: str | Path | None = None, show: bool = True) -> None:
    """Histogram of pixel values above pedestal per truth class (log counts), saved as PNG.

    In electrons for a skipper frame (its gain is known: the 0, 1, 2, ...
    electron peaks stand apart), in ADU for a frame of the 2020 kind.
    """
    if isinstance(frame.params, Detector):
        pedestal = frame.params.pedestal_profile(frame.image.shape[0])
        plot_pixel_histogram(frame.image, frame.truth, pedestal, path, show, frame.params.gain_adu_per_electron)
    else:
        plot_pixel_histogram(frame.image, frame.truth, frame.params.pedestal_adu, path, show)


def draw_frame(detector: str, seed: int, path: Path, force: bool = False, show: bool = True) -> list[Path]:
    """Simulate one frame of `detector` (its preset, default size) and draw it with its truth and charge distribution."""
    if detector not in PRESETS:
        raise UserInputError(f"--detector must be one of {', '.join(PRESETS)}, not {detector!r}")
    histogram = path.with_name(f"{path.stem}_histogram{path.suffix}")
    refuse_existing([path, histogram], force)
    rng = np.random.default_rng(seed)
    if detector == "damic-m":
        frame = simulate_skipper_frame(rng, PRESETS[detector], (320, 640))
    else:
        frame = simulate_frame(rng, PRESETS[detector], "mixed", (256, 256))
    title = f"simulated {detector} frame, seed {seed}: image in ADU and its truth"
    visualize_label(frame.image, frame.truth, None, path, title, show)
    plot_charge_distribution(frame, histogram, show)
    return [path, histogram]


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Draw one simulated frame (`--figure`), or rewrite the cluster library `Cluster.pkl` from a seed."""
    parser = argparse.ArgumentParser(
        description="Draw a simulated frame, or generate the cluster library Cluster.pkl from physics.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--figure", type=Path, help="draw one frame here (and its charge distribution beside it)")
    parser.add_argument("--detector", default=DETECTOR, choices=tuple(PRESETS), help="--figure: the kind of frame")
    parser.add_argument("--frame-seed", type=int, default=FRAME_SEED, help="--figure: seed of the frame")
    parser.add_argument("--seed", type=int, default=LIBRARY_SEED, help="seed of the library")
    parser.add_argument("--count", type=int, default=LIBRARY_SIZE, help="number of stamps")
    parser.add_argument("--output", type=Path, default=LIBRARY_OUTPUT, help="the pickle to write")
    parser.add_argument("--no-show", action="store_true", help="do not open a window")
    parser.add_argument("--force", action="store_true", help="overwrite an existing library or figure")
    args = parser.parse_args(argv)

    def run() -> None:
        if args.figure is not None:
            written = draw_frame(args.detector, args.frame_seed, args.figure, args.force, not args.no_show)
            print(f"wrote {written[0]} and {written[1].name}")
            return
        library = make_cluster_library(args.count, args.seed)
        save_cluster_library(library, args.output, force=args.force)
        for key, value in library_statistics(library).items():
            print(f"{key}: {value:.3g}" if isinstance(value, float) else f"{key}: {value}")
        print(f"wrote {args.output}")

    return run_command(run)


if __name__ == "__main__":
    raise SystemExit(main())
