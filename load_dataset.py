"""Load data sets: .npy stacks and their truth, PNG folders, FITS frames; class weights (the original's load_dataset.py).

The functions live where their job is (`ccdseg.io.arrays`, `ccdseg.io.fits`,
`ccdseg.model.class_weights`, `ccdseg.infer.tiling`,
`ccdseg.infer.object_search`); they are importable from here under the
original's names. Run on a data set, this script checks it and prints its
shape, class percentages and class weights:

    python load_dataset.py --folder Images/Train --name training
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ccdseg.core import paths
from ccdseg.core.classes import CLASS_NAMES, format_percentages, get_percentages
from ccdseg.core.errors import run_command
from ccdseg.infer.object_search import check_one_object
from ccdseg.infer.tiling import images_small2big
from ccdseg.io.arrays import load_frames, load_images, load_npy, load_npy_pair, load_truth
from ccdseg.io.fits import FitsFrame, read_fits_frame
from ccdseg.model.class_weights import WEIGHTINGS, get_weights
from ccdseg.model.normalisation import normalise_frames

__all__ = ["get_weights", "load_npy", "load_npy_pair", "load_frames", "load_truth", "load_images", "process_fits",
           "images_small2big", "check_one_object"]  # fmt: skip

# %% Settings - edit here when running top to bottom in Spyder
FOLDER = paths.TRAIN_IMAGES
NAME = "training"
WEIGHTING = "inverse"


# %% The original's FITS reader
def process_fits(path: str | Path, hdu: int | str | None = None, plane: int | None = None,
                 region: str | None = None, normalise: bool | dict = False) -> FitsFrame:
    """Read one image plane of a FITS file for segmentation (`ccdseg.io.fits.read_fits_frame`).

    normalise : True adds `normalised`, the frame as the network sees it
        (`model.normalisation.normalise_frames`; a dict: with that
        normalisation, as in a model's card), computed once on the whole region.
    """
    frame = read_fits_frame(path, hdu, plane, region)
    if normalise is not False:
        frame.normalised = normalise_frames(frame.data, None if normalise is True else normalise)
    return frame


def describe_dataset(images: np.ndarray, truth: np.ndarray, weighting: str) -> str:
    """Shape, class percentages and class weights of a data set, one line each."""
    weights = get_weights(truth, weighting)
    return "\n".join([
        f"{len(images)} frames of {images.shape[1]} x {images.shape[2]} px, {images.dtype} ADU",
        "class percentages: " + format_percentages(get_percentages(truth)),
        f"class weights ({weighting}): " + ", ".join(f"{n} {w:.3g}" for n, w in zip(CLASS_NAMES, weights)),
    ])


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Check a data set (NAME_data.npy, NAME_truth.npy) and print what it holds."""
    parser = argparse.ArgumentParser(description="Check a data set and print its shape, classes and class weights.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--folder", type=Path, default=FOLDER, help="folder holding NAME_data.npy and NAME_truth.npy")
    parser.add_argument("--name", default=NAME, help="name of the data set")
    parser.add_argument("--weighting", choices=WEIGHTINGS, default=WEIGHTING, help="class weights of the loss")
    args = parser.parse_args(argv)
    return run_command(lambda: print(describe_dataset(*load_npy_pair(args.folder, args.name), args.weighting)))


if __name__ == "__main__":
    raise SystemExit(main())
