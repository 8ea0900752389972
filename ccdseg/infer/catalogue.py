"""The cluster catalogue: one row per predicted cluster, from a frame and its class map.

A cluster is an 8-connected component of the class CLUSTER in a class map.
For each one the catalogue gives its place (charge-weighted centroid and
bounding box, in the full plane's 0-based pixel coordinates: x = column,
y = row), its size, its charge above the pedestal (in electrons and keV
when the gain is known), its spread, and flags for
what its 8-neighbourhood touches (glowing columns, hot pixels, masked pixels,
the border of the analysed region), so that a physicist can cut on them.

A catalogue is a dict of equally long 1-d arrays, one per column of
`io.catalogue.COLUMNS`, in that order. The clusters are labelled by OpenCV
(`morphology.py`); every quantity is then computed on the list of their
pixels with `np.bincount` and sorted reductions: no loop over pixels or
clusters, so frames of millions of pixels and thousands of clusters are fast.
"""
from __future__ import annotations

import numpy as np

from ccdseg.core.classes import CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.core.morphology import components, near, pixels, raster_numbers
from ccdseg.core.physics import EV_PER_ELECTRON
from ccdseg.io.catalogue import empty_catalogue
from ccdseg.measure.background import robust_background


# %% Building a catalogue
def _check_inputs(image, class_map) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    class_map = np.asarray(class_map)
    if image.ndim != 2:
        raise UserInputError(f"image must be one frame (h, w); got shape {image.shape}")
    if class_map.shape != image.shape:
        raise UserInputError(f"class map shape {class_map.shape} differs from image shape {image.shape}")
    if not np.issubdtype(image.dtype, np.number):
        raise UserInputError(f"image must hold numbers (ADU); got dtype {image.dtype}")
    return (image if np.issubdtype(image.dtype, np.floating) else image.astype(np.float64)), class_map


def _touches(condition: np.ndarray, labels: np.ndarray, number: np.ndarray) -> np.ndarray:
    """(n,) bool: whether cluster 1..n has a pixel within one pixel (8-neighbourhood) of `condition`.

    labels : (h, w) int32 label image; number : (count,) the catalogue's
    cluster number of each label (0 for the background label 0).
    """
    n = int(number.max(initial=0))
    if not condition.any():
        return np.zeros(n, dtype=bool)
    return np.bincount(number[labels[near(condition, 1)]], minlength=n + 1)[1:] > 0


def _weighted_moments(labels_px, weight_px, coord_px, offset_px, n) -> tuple[np.ndarray, np.ndarray]:
    """Charge-weighted mean and standard deviation of one coordinate per cluster.

    Coordinates are taken relative to each cluster's bounding-box start
    (`offset_px`, (n,)) so that the variance does not lose precision on large
    frames. Clusters without positive charge get the unweighted values.
    """
    local = (coord_px - offset_px[labels_px - 1]).astype(np.float64)
    total = np.bincount(labels_px, weights=weight_px, minlength=n + 1)[1:]
    count = np.bincount(labels_px, minlength=n + 1)[1:].astype(np.float64)
    no_charge = total <= 0
    weight_px = np.where(no_charge[labels_px - 1], 1.0, weight_px)
    total = np.where(no_charge, count, total)
    mean = np.bincount(labels_px, weights=weight_px * local, minlength=n + 1)[1:] / total
    second = np.bincount(labels_px, weights=weight_px * local**2, minlength=n + 1)[1:] / total
    sigma = np.sqrt(np.clip(second - mean**2, 0.0, None))
    return mean + offset_px, sigma


def _measure_clusters(label_px, row_px, col_px, value_px, background_px, n: int) -> dict[str, np.ndarray]:
    """Place, size, charge, peak and spread of clusters 1..n from the lists of their pixels.

    label_px, row_px, col_px, value_px : (k,) each cluster pixel's cluster
    number (1..n), row, column and ADU (NaN where masked: 0 charge, left out
    of the peak); background_px : (k,) or one value, ADU subtracted from
    each pixel. Returns (n,) arrays named as the catalogue's columns, in the
    frame's own 0-based coordinates.
    """
    masked_px = np.isnan(value_px)
    charge_px = np.nan_to_num(value_px - background_px, nan=0.0)
    n_pixels = np.bincount(label_px, minlength=n + 1)[1:]
    grouped = np.argsort(label_px, kind="stable")
    starts = np.concatenate(([0], np.cumsum(n_pixels)[:-1]))
    x_min, x_max = np.minimum.reduceat(col_px[grouped], starts), np.maximum.reduceat(col_px[grouped], starts)
    y_min, y_max = row_px[grouped][starts], np.maximum.reduceat(row_px[grouped], starts)
    peak = np.maximum.reduceat(np.where(masked_px, -np.inf, charge_px)[grouped], starts)
    weight_px = np.clip(charge_px, 0.0, None)
    x, sigma_x = _weighted_moments(label_px, weight_px, col_px, x_min, n)
    y, sigma_y = _weighted_moments(label_px, weight_px, row_px, y_min, n)
    return {
        "x": x,
        "y": y,
        "x_min": x_min,
        "x_max": x_max,
        "y_min": y_min,
        "y_max": y_max,
        "n_pixels": n_pixels,
        "charge_adu": np.bincount(label_px, weights=charge_px, minlength=n + 1)[1:],
        "peak_adu": np.where(np.isfinite(peak), peak, np.nan).astype(np.float64),
        "sigma_x": sigma_x,
        "sigma_y": sigma_y,
    }


def _touch_flags(image, class_map, labels, number, measured) -> dict[str, np.ndarray]:
    """The catalogue's flags: what each cluster's 8-neighbourhood touches, and whether it lies on the frame's edge.

    labels : (h, w) component labels; number : (count,) each label's cluster
    number; measured : `_measure_clusters`' bounding boxes, in the frame's own coordinates.
    """
    height, width = image.shape
    return {
        "touches_glowing": _touches(class_map == GLOWING, labels, number),
        "touches_hot_pixel": _touches(class_map == HOT_PIXEL, labels, number),
        "touches_masked": _touches(np.isnan(image), labels, number),
        "touches_edge": (measured["x_min"] == 0) | (measured["y_min"] == 0) | (measured["x_max"] == width - 1)
        | (measured["y_max"] == height - 1),
    }


def _background_px(image: np.ndarray, pedestal_adu, row_px: np.ndarray) -> np.ndarray | float:
    """ADU to subtract from each cluster pixel, the pixels being of rows `row_px` (k,).

    pedestal_adu : one value, or (h,) one per row, or None for the frame's
    own estimate (`measure.background.robust_background`).
    """
    if pedestal_adu is None:
        return float(robust_background(image)[0].reshape(()))
    background = np.asarray(pedestal_adu, dtype=np.float64)
    return background[row_px] if background.ndim == 1 else float(background)


def _electrons(charge_adu: np.ndarray, gain_adu_per_electron: float | None) -> np.ndarray:
    """Charges (n,) ADU in electrons, NaN when the gain is unknown; a gain that is not positive is refused."""
    if gain_adu_per_electron is not None and not gain_adu_per_electron > 0:
        raise UserInputError(f"the gain must be positive, not {gain_adu_per_electron} ADU per electron")
    return charge_adu / (gain_adu_per_electron or np.nan)


def _in_plane(measured: dict, origin: tuple[int, int]) -> dict[str, np.ndarray]:
    """Centroids and bounding boxes of `_measure_clusters` moved into the plane's coordinates (origin (row0, col0))."""
    row0, col0 = (int(v) for v in origin)
    return {
        "x": measured["x"] + col0,
        "y": measured["y"] + row0,
        "x_min": measured["x_min"] + col0,
        "x_max": measured["x_max"] + col0,
        "y_min": measured["y_min"] + row0,
        "y_max": measured["y_max"] + row0,
    }


def cluster_catalogue(
    image: np.ndarray, class_map: np.ndarray, frame_name: str = "", origin: tuple[int, int] = (0, 0),
    pedestal_adu: float | np.ndarray | None = None, gain_adu_per_electron: float | None = None, hdu: str = "",
) -> dict[str, np.ndarray]:
    """The catalogue of the clusters of one frame, one row per 8-connected CLUSTER component.

    Parameters
    ----------
    image : (h, w) float ADU; NaN marks a masked pixel (counted as 0 charge,
        ignored for the peak, and raising `touches_masked`).
    class_map : (h, w) uint8 class ids (`classes`), e.g. a model's prediction.
    frame_name, hdu : written in the `frame` and `hdu` columns of every row.
    origin : (row0, col0) px, the place of `image` in the full plane; added to
        every coordinate so that sections of one plane share one system.
    pedestal_adu : the background subtracted from every pixel, ADU: one
        value, or (h,) one per row (on skipper frames the level of each row,
        pedestal and mean dark current: `measure.background.frame_background`);
        None estimates one value with `measure.background.robust_background`.
    gain_adu_per_electron : when known (a FITS keyword, `--gain`, or the
        frame's own fit), each cluster's charge is also given in electrons
        and its energy in keV (3.75 eV per electron); NaN otherwise.

    Returns
    -------
    dict of (n_clusters,) arrays, one per column of `COLUMNS` (units there);
    all present, of length 0 when there is no cluster. Centroids and
    sigmas weight each pixel by its charge when positive (0 otherwise); a
    cluster without positive charge gets its unweighted centroid and spread.
    """
    image, class_map = _check_inputs(image, class_map)
    cluster = class_map == CLUSTER
    count, labels = components(cluster)
    n = count - 1
    if n == 0:
        return empty_catalogue()
    row_px, col_px = pixels(cluster)
    label_px = labels[row_px, col_px]
    number = raster_numbers(label_px, count)  # clusters numbered in raster order of first pixel
    value_px = image[row_px, col_px].astype(np.float64)
    background_px = _background_px(image, pedestal_adu, row_px)
    measured = _measure_clusters(number[label_px], row_px, col_px, value_px, background_px, n)
    electrons = _electrons(measured["charge_adu"], gain_adu_per_electron)
    return {
        "frame": np.full(n, frame_name, dtype=f"<U{max(len(frame_name), 1)}"),
        "hdu": np.full(n, hdu, dtype=f"<U{max(len(hdu), 1)}"),
        "cluster_id": np.arange(1, n + 1).astype(np.int64),
        **_in_plane(measured, origin),
        "n_pixels": measured["n_pixels"],
        "charge_adu": measured["charge_adu"],
        "peak_adu": measured["peak_adu"],
        "charge_electrons": electrons,
        "energy_kev": electrons * EV_PER_ELECTRON / 1e3,
        "sigma_x": measured["sigma_x"],
        "sigma_y": measured["sigma_y"],
        **_touch_flags(image, class_map, labels, number, measured),
    }

