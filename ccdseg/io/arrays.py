"""Data sets on disk: `.npy` stacks and their truth, PNG images and folders of them.

Every array read passes the input checks of `core.checks`; every file
written goes through `core.safe_write` (never overwritten without `force`,
never half-written).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ccdseg.core.checks import check_frames, check_truth, get_monochrome
from ccdseg.core.classes import mask_to_label
from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import refuse_existing, save_array, write_atomically


# %% Reading
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


# %% Writing
def dataset_paths(folder: Path, name: str) -> tuple[Path, Path]:
    """The (data, truth) .npy paths of data set `name` in `folder`."""
    return folder / f"{name}_data.npy", folder / f"{name}_truth.npy"


def save_dataset(
    images: np.ndarray, truth: np.ndarray, folder: Path, name: str, force: bool = False, png: bool = False
) -> list[Path]:
    """Write NAME_data.npy and NAME_truth.npy (and PNGs), atomically; refuse to overwrite unless `force`."""
    paths = list(dataset_paths(folder, name))
    refuse_existing(paths, force)
    for path, array in zip(paths, (images, truth)):
        save_array(path, array, force=True)
    if png:
        paths += save_pngs(images, truth, folder / f"{name}_png", force)
    return paths


def holds_dataset(folder: Path, name: str, images: np.ndarray, truth: np.ndarray) -> bool:
    """True when NAME_data.npy and NAME_truth.npy in `folder` hold exactly these arrays."""
    paths = dataset_paths(folder, name)
    if not all(p.is_file() for p in paths):
        return False
    try:
        stored = [load_npy(p) for p in paths]
    except UserInputError:
        return False
    return all(a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
               for a, b in zip(stored, (images, truth)))


def save_pngs(images: np.ndarray, truth: np.ndarray, folder: Path, force: bool = False) -> list[Path]:
    """One 16-bit grey PNG per frame (ADU, clipped to 0..65535) and one colour PNG of its truth, atomically."""
    written = []
    for i, (image, labels) in enumerate(zip(images, truth)):
        grey = np.clip(np.rint(image), 0, 65535).astype(np.uint16)
        rgb = (mask_to_label(labels) * 255).round().astype(np.uint8)[..., ::-1]
        for path, pixels in ((folder / f"image_{i:04d}.png", grey), (folder / f"label_{i:04d}.png", rgb)):
            written.append(write_atomically(path, lambda tmp, pixels=pixels: cv2.imwrite(str(tmp), pixels), force))
    return written
