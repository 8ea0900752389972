"""labelme polygon files <-> (h, w) class maps, for hand-labelled detector frames."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ccdseg.core.classes import CLASS_NAMES, N_CLASSES, PRIORITY, class_id
from ccdseg.core.errors import UserInputError


# %% Functions
def labelme_to_class_map(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Rasterise a labelme JSON into (h, w) uint8 class ids.

    Shape labels are class names ('glowing', 'hot pixel', 'cluster', ...).
    Polygons and rectangles are filled, lines and points drawn one pixel
    wide. Shapes are painted in `classes.PRIORITY` order so that the priority
    hot pixel > cluster > glowing > background holds.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: not a readable labelme JSON ({exc})") from None
    if shape is None:
        if "imageHeight" not in document or "imageWidth" not in document:
            raise UserInputError(f"{path}: no imageHeight/imageWidth; pass the frame shape")
        shape = (int(document["imageHeight"]), int(document["imageWidth"]))
    rank = {cid: r for r, cid in enumerate(PRIORITY)}
    shapes = []
    for item in document.get("shapes", []):
        try:
            cid = class_id(item["label"])
        except UserInputError as exc:
            raise UserInputError(f"{path}: {exc}") from None
        shapes.append((rank[cid], cid, item))
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
