"""One simulated CCD frame, built from separate physical components (the original's image_details.py).

A frame is pedestal + readout noise + dark current + glowing columns + hot
pixels + clusters, converted to ADU; each component is kept apart while the
frame is built, so the exact truth class of every pixel is known. The code
lives in `ccdseg.simulate` (`parameters`, `components`, `frame`,
`cluster_library`); this script keeps the original's names and rewrites the
cluster library `Cluster.pkl` from a seed:

    python image_details.py --seed 0 --force
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ccdseg.core import paths
from ccdseg.core.errors import run_command
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
from ccdseg.simulate.frame import Frame, simulate_frame  # noqa: F401
from ccdseg.simulate.parameters import SimulationParameters, noise_free, random_parameters  # noqa: F401

# %% Settings - edit here when running top to bottom in Spyder
LIBRARY_SEED = cluster_library.LIBRARY_SEED
LIBRARY_SIZE = cluster_library.LIBRARY_SIZE  # stamps
LIBRARY_OUTPUT = paths.CLUSTER_LIBRARY


# %% The original's plot
def plot_charge_distribution(frame: Frame, path: str | Path | None = None, show: bool = True) -> None:
    """Histogram of pixel values above pedestal per truth class (log counts), saved as PNG."""
    plot_pixel_histogram(frame.image, frame.truth, frame.params.pedestal_adu, path, show)


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Rewrite the cluster library `Cluster.pkl` from a seed and print its statistics."""
    parser = argparse.ArgumentParser(
        description="Generate the cluster library Cluster.pkl from physics.", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=LIBRARY_SEED, help="seed of the library")
    parser.add_argument("--count", type=int, default=LIBRARY_SIZE, help="number of stamps")
    parser.add_argument("--output", type=Path, default=LIBRARY_OUTPUT, help="the pickle to write")
    parser.add_argument("--force", action="store_true", help="overwrite an existing library")
    args = parser.parse_args(argv)

    def run() -> None:
        library = make_cluster_library(args.count, args.seed)
        save_cluster_library(library, args.output, force=args.force)
        for key, value in library_statistics(library).items():
            print(f"{key}: {value:.3g}" if isinstance(value, float) else f"{key}: {value}")
        print(f"wrote {args.output}")

    return run_command(run)


if __name__ == "__main__":
    raise SystemExit(main())
