"""Labels from pixel values, and the original's mask functions (the original's mask.py).

The threshold rule (`get_class`) labels each pixel by its value above the
pedestal, against bands derived from the simulation's own parameters; the
classical cluster finders a model must beat are in `ccdseg.evaluate.finders`.
The functions live where their job is (`ccdseg.simulate.thresholds`,
`ccdseg.core.classes`, `ccdseg.plots.labels`); they are importable from here
under the original's names. Run on a data set, this script scores the
threshold labels against the exact truth and draws one frame:

    python mask.py --data Images/Test/test_data.npy --truth Images/Test/test_truth.npy
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ccdseg.core import paths
from ccdseg.core.checks import get_monochrome
from ccdseg.core.classes import format_percentages, get_max_in_mask, get_percentages, mask_to_label, statistics
from ccdseg.core.errors import UserInputError, run_command
from ccdseg.core.safe_write import refuse_existing
from ccdseg.core.scoring import classification_report
from ccdseg.io.arrays import load_frames, load_truth
from ccdseg.plots.labels import mask_to_label_one_object, visualize_label
from ccdseg.simulate import thresholds
from ccdseg.simulate.thresholds import get_class, get_mask

__all__ = [
    "get_monochrome", "get_class", "get_mask",
    "get_max_in_mask", "get_percentages", "statistics", "mask_to_label", "mask_to_label_one_object",
    "visualize_label",
]  # fmt: skip

# %% Settings - edit here when running top to bottom in Spyder
DATA = paths.TEST_IMAGES / "test_data.npy"
TRUTH = paths.TEST_IMAGES / "test_truth.npy"
FIGURE = paths.OUTPUTS / "threshold_labels.png"
CLUSTER_THRESHOLD_SIGMA = thresholds.CLUSTER_THRESHOLD_SIGMA
BAND_SIGMA = thresholds.BAND_SIGMA


# %% The threshold labels of a data set
def label_dataset(data: Path, truth: Path | None, figure: Path, cluster_threshold_sigma: float, band_sigma: float,
                  force: bool = False, show: bool = True) -> str:
    """Threshold-label the frames of `data`; return their class percentages (and report against `truth`).

    Pedestal and noise are estimated per frame. The first frame, its truth
    and its threshold labels are drawn to `figure`.
    """
    refuse_existing([figure], force)
    images = load_frames(data)
    true = None if truth is None else load_truth(truth, images.shape)
    labels = get_class(images, cluster_threshold_sigma=cluster_threshold_sigma, band_sigma=band_sigma,
                       estimate_background=True)
    text = "threshold labels: " + format_percentages(get_percentages(labels))
    if true is not None:
        text += "\nagainst the truth:\n" + classification_report(labels, true)
    visualize_label(images[0], None if true is None else true[0], labels[0], figure, f"{data.name}: frame 0", show)
    return text


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Label a data set with the threshold rule; print its class percentages and report."""
    parser = argparse.ArgumentParser(description="Threshold labels of a data set, scored against its truth.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help=".npy stack (n, h, w) ADU, a PNG or a folder of PNGs")
    parser.add_argument("--truth", type=Path, default=TRUTH, help=".npy truth class ids; 'none' to skip")
    parser.add_argument("--figure", type=Path, default=FIGURE, help="PNG of the first frame and its labels")
    parser.add_argument("--cluster-sigma", type=float, default=CLUSTER_THRESHOLD_SIGMA,
                        help="a pixel this many noise sigmas above pedestal, outside the bands, is cluster")
    parser.add_argument("--band-sigma", type=float, default=BAND_SIGMA, help="half-width of the glow and hot bands, sigmas")
    parser.add_argument("--no-show", action="store_true", help="do not open a window")
    parser.add_argument("--force", action="store_true", help="overwrite the figure")
    args = parser.parse_args(argv)

    def run() -> None:
        if args.band_sigma <= 0:
            raise UserInputError(f"--band-sigma must be positive, not {args.band_sigma}")
        truth = None if str(args.truth).lower() == "none" else args.truth
        print(label_dataset(args.data, truth, args.figure, args.cluster_sigma, args.band_sigma, args.force,
                            not args.no_show))
        print(f"wrote {args.figure}")

    return run_command(run)


if __name__ == "__main__":
    raise SystemExit(main())
