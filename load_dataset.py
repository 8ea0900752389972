"""Load data sets and labels: .npy pairs, PNG folders, labelme polygons; class weights.

FITS detector frames are read here too (`process_fits`), cut into overlapping
sections and put back together (`images_small2big`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mask import CLASS_NAMES, N_CLASSES, UserInputError, class_id, get_monochrome, statistics

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
def load_npy_pair(folder: str | Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Load `folder/NAME_data.npy` (n, h, w) float32 ADU and `NAME_truth.npy` (n, h, w) uint8."""
    folder = Path(folder)
    data_path, truth_path = folder / f"{name}_data.npy", folder / f"{name}_truth.npy"
    arrays = []
    for path in (data_path, truth_path):
        if not path.is_file():
            raise UserInputError(f"{path}: no such file (make it with image_simulation.py)")
        try:
            arrays.append(np.load(path, allow_pickle=False))
        except (ValueError, OSError, EOFError) as exc:
            raise UserInputError(f"{path}: not a readable .npy array ({exc})") from None
    images, truth = arrays
    if images.ndim == 2:
        images, truth = images[None], truth[None]
    if images.ndim != 3:
        raise UserInputError(f"{data_path}: expected (n, h, w) frames, got shape {images.shape}")
    if images.shape != truth.shape:
        raise UserInputError(f"{truth_path}: shape {truth.shape} does not match {data_path.name} {images.shape}")
    if truth.size and int(truth.max()) >= N_CLASSES:
        raise UserInputError(f"{truth_path}: class ids must be 0..{N_CLASSES - 1}")
    return images.astype(np.float32, copy=False), truth.astype(np.uint8, copy=False)


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


# %% labelme
def labelme_to_class_map(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Rasterise a labelme JSON into (h, w) uint8 class ids.

    Shape labels are class names ('glowing', 'hot pixel', 'cluster', ...).
    Polygons and rectangles are filled, lines and points drawn one pixel
    wide. Shapes are painted in class order so that the priority
    hot pixel > cluster > glowing > background holds.
    """
    import cv2

    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: not a readable labelme JSON ({exc})") from None
    if shape is None:
        if "imageHeight" not in document or "imageWidth" not in document:
            raise UserInputError(f"{path}: no imageHeight/imageWidth; pass the frame shape")
        shape = (int(document["imageHeight"]), int(document["imageWidth"]))
    priority = {0: 0, 1: 1, 3: 2, 2: 3}
    shapes = []
    for item in document.get("shapes", []):
        try:
            cid = class_id(item["label"])
        except UserInputError as exc:
            raise UserInputError(f"{path}: {exc}") from None
        shapes.append((priority[cid], cid, item))
    class_map = np.zeros(shape, dtype=np.uint8)
    for _, cid, item in sorted(shapes, key=lambda s: s[0]):
        points = np.rint(np.asarray(item.get("points", []), dtype=np.float64)).astype(np.int32)
        kind = item.get("shape_type", "polygon")
        if points.size == 0:
            continue
        if kind == "rectangle":
            (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
            class_map[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = cid
        elif kind == "polygon":
            cv2.fillPoly(class_map, [points.reshape(-1, 1, 2)], int(cid))
            cv2.polylines(class_map, [points.reshape(-1, 1, 2)], True, int(cid), 1)
        elif kind in ("line", "linestrip"):
            cv2.polylines(class_map, [points.reshape(-1, 1, 2)], False, int(cid), 1)
        elif kind == "point":
            x, y = points[0]
            if 0 <= y < shape[0] and 0 <= x < shape[1]:
                class_map[y, x] = cid
        else:
            raise UserInputError(f"{path}: shape type {kind!r} is not supported")
    return class_map


def class_map_to_labelme(class_map: np.ndarray, image_path: str = "") -> dict:
    """Turn (h, w) class ids into a labelme document: one polygon per connected region.

    Regions are traced on pixel corners, so `labelme_to_class_map` gives the
    same map back for solid regions.
    """
    import cv2

    shapes = []
    for cid in range(1, N_CLASSES):
        region = (class_map == cid).astype(np.uint8)
        contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            points = contour.reshape(-1, 2)
            kind = "polygon" if len(points) >= 3 else ("line" if len(points) == 2 else "point")
            shapes.append(
                {"label": CLASS_NAMES[cid], "points": points.tolist(), "shape_type": kind, "group_id": None, "flags": {}}
            )
    return {
        "version": "5.0.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": int(class_map.shape[0]),
        "imageWidth": int(class_map.shape[1]),
    }
