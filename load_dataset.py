"""Load data sets: .npy stacks and their truth, PNG folders; class weights for training.

The original's other `load_dataset.py` functions are here under their names
too; they live where their job is: FITS frames in `fits_io.py`
(`process_fits`), sections of a frame in `tiling.py` (`images_small2big`), the
search for a class in `object_search.py` (`check_one_object`), labelme files
in `labelme_io.py`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from classes import CLASS_NAMES, N_CLASSES, statistics
from errors import UserInputError
from fits_io import process_fits
from frames import check_frames, check_truth
from mask import get_monochrome
from object_search import check_one_object
from tiling import images_small2big

__all__ = ["get_weights", "load_npy", "load_npy_pair", "load_frames", "load_truth", "load_images", "process_fits",
           "images_small2big", "check_one_object"]  # fmt: skip

# %% Settings - edit here when running top to bottom in Spyder
WEIGHTING = "inverse"
WEIGHTINGS = ("inverse", "sqrt", "none")


# %% Class weights
def get_weights(labels: np.ndarray, mode: str = WEIGHTING) -> np.ndarray:
    """Class weights (4,) float64 from class ids (n, h, w) or one-hot (n, h, w, 4).

    'inverse' (the original): w_c = 1 / f_c, normalised so the weights sum to
    the number of classes. 'sqrt': 1 / sqrt(f_c), normalised the same way,
    gentler on rare classes. 'none': all ones. A class with no pixel at all
    raises `UserInputError`, since its weight would be infinite.
    """
    if mode not in WEIGHTINGS:
        raise UserInputError(f"weighting {mode!r} is not one of {', '.join(WEIGHTINGS)}")
    counts = statistics(labels).astype(np.float64)
    if mode == "none":
        return np.ones(N_CLASSES)
    missing = [CLASS_NAMES[c] for c in range(N_CLASSES) if counts[c] == 0]
    if missing:
        raise UserInputError(f"no pixel of class {', '.join(missing)} in the labels; cannot weight it")
    frequency = counts / counts.sum()
    raw = 1.0 / frequency if mode == "inverse" else 1.0 / np.sqrt(frequency)
    return raw * N_CLASSES / raw.sum()


# %% Arrays on disk
def load_npy(path: str | Path) -> np.ndarray:
    """One .npy array, without pickles; a missing or unreadable file raises `UserInputError`."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserInputError(f"{path}: not a readable .npy array ({exc})") from None


def load_npy_pair(folder: str | Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Load `folder/NAME_data.npy` (n, h, w) float32 ADU and `NAME_truth.npy` (n, h, w) uint8."""
    folder = Path(folder)
    data_path, truth_path = folder / f"{name}_data.npy", folder / f"{name}_truth.npy"
    for path in (data_path, truth_path):
        if not path.is_file():
            raise UserInputError(f"{path}: no such file (make it with image_simulation.py)")
    images, truth = load_npy(data_path), load_npy(truth_path)
    if images.ndim == 2:
        images, truth = images[None], truth[None]
    if images.ndim != 3:
        raise UserInputError(f"{data_path}: expected (n, h, w) frames, got shape {images.shape}")
    if images.shape != truth.shape:
        raise UserInputError(f"{truth_path}: shape {truth.shape} does not match {data_path.name} {images.shape}")
    return images.astype(np.float32, copy=False), check_truth(truth, images.shape, str(truth_path))


def _load_array(path: Path) -> np.ndarray:
    """The array of a .npy file, a PNG file or a folder of PNG images, as stored."""
    if path.is_dir():
        return load_images(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such file or folder")
    if path.suffix.lower() == ".png":
        return load_images(path.parent, path.name)
    return load_npy(path)


def load_frames(path: str | Path) -> np.ndarray:
    """Frames (n, h, w) float32 ADU from a .npy stack or frame, a PNG file, or a folder of PNG images.

    Checked by `frames.check_frames`, the rules every input path shares.
    """
    path = Path(path)
    return check_frames(_load_array(path), str(path))


def load_truth(path: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    """Truth class ids (n, h, w) uint8 for frames of `shape`, checked by `frames.check_truth`."""
    path = Path(path)
    return check_truth(_load_array(path), shape, str(path))


def load_images(folder: str | Path, pattern: str = "*.png") -> np.ndarray:
    """Load every PNG of a folder, sorted by name, as (n, h, w) float32 grey values.

    16-bit PNGs keep their values (ADU); colour PNGs become the mean of their
    channels. All images must share one size.
    """
    import cv2

    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"{folder}: no such folder")
    paths = sorted(folder.glob(pattern))
    if not paths:
        raise UserInputError(f"{folder}: no file matches {pattern}")
    images = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise UserInputError(f"{path}: not a readable image")
        if image.ndim == 3:
            image = image[..., 2::-1] if image.shape[-1] >= 3 else image
        images.append(get_monochrome(image))
        if images[-1].shape != images[0].shape:
            raise UserInputError(f"{path}: size {images[-1].shape} differs from {paths[0].name} {images[0].shape}")
    return np.stack(images)
