"""The cluster catalogue: one row per predicted cluster, from a frame and its class map.

A cluster is an 8-connected component of the class CLUSTER in a class map.
For each one the catalogue gives its place (charge-weighted centroid and
bounding box, in the full plane's 0-based pixel coordinates: x = column,
y = row), its size, its charge above the pedestal, its spread, and flags for
what its 8-neighbourhood touches (glowing columns, hot pixels, masked pixels,
the border of the analysed region), so that a physicist can cut on them.

A catalogue is a dict of equally long 1-d arrays, one per column of
`COLUMNS`, in that order. The clusters are labelled by OpenCV
(`morphology.py`); every quantity is then computed on the list of their
pixels with `np.bincount` and sorted reductions: no loop over pixels or
clusters, so frames of millions of pixels and thousands of clusters are fast.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from classes import CLUSTER, GLOWING, HOT_PIXEL
from errors import UserInputError
from morphology import components, near, pixels, raster_numbers
from normalisation import robust_background
from safe_write import write_atomically


class Column(NamedTuple):
    """One catalogue column: its name, numpy dtype, FITS unit ('' for none) and meaning."""

    name: str
    dtype: str
    unit: str
    description: str


# %% Settings - edit here when running top to bottom in Spyder
EXTNAME = "CLUSTERS"
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)
COLUMNS = (
    Column("frame", "str", "", "name of the frame the cluster was found in"),
    Column("cluster_id", "int64", "", "cluster number in its frame, 1.. in raster order of first pixel"),
    Column("x", "float64", "pix", "charge-weighted centroid column, 0-based, full plane"),
    Column("y", "float64", "pix", "charge-weighted centroid row, 0-based, full plane"),
    Column("x_min", "int64", "pix", "first column of the bounding box (inclusive)"),
    Column("x_max", "int64", "pix", "last column of the bounding box (inclusive)"),
    Column("y_min", "int64", "pix", "first row of the bounding box (inclusive)"),
    Column("y_max", "int64", "pix", "last row of the bounding box (inclusive)"),
    Column("n_pixels", "int64", "", "number of pixels of the cluster"),
    Column("charge_adu", "float64", "adu", "pedestal-subtracted charge summed over the cluster"),
    Column("peak_adu", "float64", "adu", "largest pedestal-subtracted pixel of the cluster"),
    Column("sigma_x", "float64", "pix", "charge-weighted standard deviation along x"),
    Column("sigma_y", "float64", "pix", "charge-weighted standard deviation along y"),
    Column("touches_glowing", "bool", "", "8-neighbourhood touches a glowing pixel"),
    Column("touches_hot_pixel", "bool", "", "8-neighbourhood touches a hot pixel"),
    Column("touches_masked", "bool", "", "cluster or its 8-neighbourhood holds a masked (NaN) pixel"),
    Column("touches_edge", "bool", "", "cluster lies on the border of the analysed region"),
)
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
_FITS_FORMATS = {"int64": "K", "float64": "D", "bool": "L"}


# %% Building a catalogue
def empty_catalogue() -> dict[str, np.ndarray]:
    """A catalogue with every column of `COLUMNS` and no row."""
    return {c.name: np.zeros(0, dtype="<U1" if c.dtype == "str" else c.dtype) for c in COLUMNS}


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


def cluster_catalogue(
    image: np.ndarray,
    class_map: np.ndarray,
    frame_name: str = "",
    origin: tuple[int, int] = (0, 0),
    pedestal_adu: float | None = None,
) -> dict[str, np.ndarray]:
    """The catalogue of the clusters of one frame, one row per 8-connected CLUSTER component.

    Parameters
    ----------
    image : (h, w) float ADU; NaN marks a masked pixel (counted as 0 charge,
        ignored for the peak, and raising `touches_masked`).
    class_map : (h, w) uint8 class ids (`classes`), e.g. a model's prediction.
    frame_name : str, written in the `frame` column of every row.
    origin : (row0, col0) px, the place of `image` in the full plane; added to
        every coordinate so that sections of one plane share one system.
    pedestal_adu : float ADU, or None to estimate it with
        `normalisation.robust_background`.

    Returns
    -------
    dict of (n_clusters,) arrays, one per column of `COLUMNS` (see there for
    units); all present, of length 0 when there is no cluster. Centroids and
    sigmas weight each pixel by its charge when positive (0 otherwise); a
    cluster without positive charge gets its unweighted centroid and spread.
    """
    image, class_map = _check_inputs(image, class_map)
    height, width = image.shape
    cluster = class_map == CLUSTER
    count, labels = components(cluster)
    n = count - 1
    if n == 0:
        return empty_catalogue()
    if pedestal_adu is None:
        pedestal_adu = float(robust_background(image)[0].reshape(()))
    row_px, col_px = pixels(cluster)
    label_px = labels[row_px, col_px]
    number = raster_numbers(label_px, count)  # clusters numbered in raster order of first pixel
    label_px = number[label_px]
    value_px = image[row_px, col_px].astype(np.float64)
    masked_px = np.isnan(value_px)
    charge_px = np.nan_to_num(value_px - float(pedestal_adu), nan=0.0)
    n_pixels = np.bincount(label_px, minlength=count)[1:]
    grouped = np.argsort(label_px, kind="stable")
    starts = np.concatenate(([0], np.cumsum(n_pixels)[:-1]))
    x_min, x_max = np.minimum.reduceat(col_px[grouped], starts), np.maximum.reduceat(col_px[grouped], starts)
    y_min, y_max = row_px[grouped][starts], np.maximum.reduceat(row_px[grouped], starts)
    peak = np.maximum.reduceat(np.where(masked_px, -np.inf, charge_px)[grouped], starts)
    weight_px = np.clip(charge_px, 0.0, None)
    x, sigma_x = _weighted_moments(label_px, weight_px, col_px, x_min, n)
    y, sigma_y = _weighted_moments(label_px, weight_px, row_px, y_min, n)
    index = np.arange(1, n + 1)
    row0, col0 = (int(v) for v in origin)
    return {
        "frame": np.full(n, frame_name, dtype=f"<U{max(len(frame_name), 1)}"),
        "cluster_id": index.astype(np.int64),
        "x": x + col0,
        "y": y + row0,
        "x_min": x_min + col0,
        "x_max": x_max + col0,
        "y_min": y_min + row0,
        "y_max": y_max + row0,
        "n_pixels": n_pixels,
        "charge_adu": np.bincount(label_px, weights=charge_px, minlength=n + 1)[1:],
        "peak_adu": np.where(np.isfinite(peak), peak, np.nan).astype(np.float64),
        "sigma_x": sigma_x,
        "sigma_y": sigma_y,
        "touches_glowing": _touches(class_map == GLOWING, labels, number),
        "touches_hot_pixel": _touches(class_map == HOT_PIXEL, labels, number),
        "touches_masked": _touches(np.isnan(image), labels, number),
        "touches_edge": (x_min == 0) | (y_min == 0) | (x_max == width - 1) | (y_max == height - 1),
    }


def _check_catalogue(catalogue: dict) -> int:
    """Raise `UserInputError` unless every column is present with one length; return that length."""
    missing = [name for name in COLUMN_NAMES if name not in catalogue]
    if missing:
        raise UserInputError(f"catalogue lacks the columns {', '.join(missing)}")
    lengths = {len(np.asarray(catalogue[name])) for name in COLUMN_NAMES}
    if len(lengths) != 1:
        raise UserInputError(f"catalogue columns have different lengths {sorted(lengths)}")
    return lengths.pop()


def concatenate(catalogues: list[dict]) -> dict[str, np.ndarray]:
    """One catalogue of a run from the catalogues of its frames (the `frame` column tells them apart)."""
    for catalogue in catalogues:
        _check_catalogue(catalogue)
    if not catalogues:
        return empty_catalogue()
    return {c.name: np.concatenate([np.asarray(cat[c.name]) for cat in catalogues]) for c in COLUMNS}


# %% FITS
def to_fits_table(catalogue: dict, header_cards: dict | None = None):
    """The catalogue as an astropy `BinTableHDU` named 'CLUSTERS'.

    Every column carries its unit (TUNITn) and its description (TCOMMn, and
    the comment of TTYPEn). `header_cards` maps keyword -> value or
    (value, comment), e.g. the source frame's header values to carry along.
    """
    from astropy.io import fits

    _check_catalogue(catalogue)
    columns = []
    for column in COLUMNS:
        values = np.asarray(catalogue[column.name])
        if column.dtype == "str":
            # FITS strings are ASCII: other characters are escaped ('\\xe9'), as in the headers
            values = np.array([str(v).encode("ascii", "backslashreplace").decode("ascii") for v in values], dtype=str)
            fmt = f"{max(values.dtype.itemsize // 4, 1)}A"
        else:
            values = values.astype(column.dtype)
            fmt = _FITS_FORMATS[column.dtype]
        columns.append(fits.Column(name=column.name, format=fmt, unit=column.unit or None, array=values))
    hdu = fits.BinTableHDU.from_columns(columns, name=EXTNAME)
    for number, column in enumerate(COLUMNS, start=1):
        hdu.header[f"TCOMM{number}"] = column.description
        room = 80 - 33  # what fits after "TTYPEn  = 'name' / "
        hdu.header.comments[f"TTYPE{number}"] = column.description[:room]
    for keyword, card in (header_cards or {}).items():
        try:
            hdu.header[keyword] = card
        except (ValueError, TypeError) as exc:
            raise UserInputError(f"header card {keyword!r}: {exc}") from None
    return hdu


def write_catalogue_fits(path: str | Path, catalogue: dict, force: bool = False, header_cards: dict | None = None) -> Path:
    """Write the catalogue as a FITS file (empty primary HDU + 'CLUSTERS' table), atomically.

    An existing `path` raises `UserInputError` unless `force`.
    """
    from astropy.io import fits

    table = to_fits_table(catalogue, header_cards)
    hdus = fits.HDUList([fits.PrimaryHDU(), table])
    return write_atomically(path, lambda tmp: hdus.writeto(tmp), force=force)


def write_catalogue_root(path: str | Path, catalogue: dict, force: bool = False) -> Path:
    """Write the catalogue as a ROOT file for the experiments' ROOT-based analyses (uproot), atomically.

    TTree 'clusters': every numeric and flag column, the frame as
    `frame_index`; TObjString 'frames': the frame names, one a line, in
    index order; TObjString 'units': 'column unit' lines.
    """
    import uproot

    _check_catalogue(catalogue)
    names, frame_index = np.unique(np.asarray(catalogue["frame"], dtype=str), return_inverse=True)
    branches = {"frame_index": frame_index.astype(np.int64)}
    branches.update({c.name: np.asarray(catalogue[c.name]).astype(c.dtype) for c in COLUMNS if c.dtype != "str"})
    units = "\n".join(f"{c.name} {c.unit or '-'}" for c in COLUMNS if c.dtype != "str")

    def write(tmp: Path) -> None:
        with uproot.recreate(tmp) as root:
            root["clusters"] = branches
            root["frames"] = "\n".join(names)
            root["units"] = units

    return write_atomically(path, write, force=force)


def read_catalogue_fits(path: str | Path) -> dict[str, np.ndarray]:
    """Read a catalogue written by `write_catalogue_fits`: dict of (n,) arrays in `COLUMNS` order."""
    from astropy.io import fits

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such file")
    try:
        with fits.open(path) as hdus:
            if EXTNAME not in hdus:
                raise UserInputError(f"{path}: no {EXTNAME} table")
            data = hdus[EXTNAME].data
            names = [] if data is None else list(data.columns.names)
            catalogue = {name: np.array(data[name]) for name in names}
    except OSError as exc:
        raise UserInputError(f"{path}: not a readable FITS file ({exc})") from None
    if not catalogue:
        return empty_catalogue()
    for column in COLUMNS:
        if column.name in catalogue:
            kind = str if column.dtype == "str" else column.dtype
            catalogue[column.name] = catalogue[column.name].astype(kind)
    _check_catalogue(catalogue)
    return {name: catalogue[name] for name in COLUMN_NAMES}


# %% Figures and checks
def plot_summary(catalogue: dict, path: str | Path) -> Path:
    """Save a PNG with the charge spectrum (log-spaced bins of charge_adu) and the cluster sizes (n_pixels)."""
    import matplotlib.pyplot as plt

    _check_catalogue(catalogue)
    charge = np.asarray(catalogue["charge_adu"], dtype=np.float64)
    charge = charge[np.isfinite(charge) & (charge > 0)]
    sizes = np.asarray(catalogue["n_pixels"], dtype=np.int64)
    fig, (ax_charge, ax_size) = plt.subplots(1, 2, figsize=(10, 4))
    if charge.size:
        low, high = charge.min(), charge.max()
        ax_charge.hist(charge, bins=np.geomspace(low, max(high, 1.01 * low), 31), histtype="step")
    ax_charge.set(xscale="log", xlabel="cluster charge (ADU above pedestal)", ylabel="clusters",
                  title=f"charge spectrum ({charge.size} clusters with charge > 0)")
    if sizes.size:
        ax_size.hist(sizes, bins=np.unique(np.geomspace(1, sizes.max() + 1, 31).astype(int)), histtype="step")
    ax_size.set(xscale="log", yscale="log", xlabel="cluster size (pixels)", ylabel="clusters",
                title=f"cluster sizes ({sizes.size} clusters)")
    try:
        return write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"), force=True)
    finally:
        plt.close(fig)


def charge_error(
    catalogue: dict, truth: np.ndarray, cluster_adu: np.ndarray, class_map: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Relative charge error of each catalogue cluster against its matched true cluster.

    Parameters
    ----------
    catalogue : the catalogue of one frame, made by `cluster_catalogue` from
        `class_map` (its cluster_id are the labels of `class_map`'s clusters).
    truth : (h, w) uint8 true class ids; true clusters are its 8-connected
        CLUSTER components.
    cluster_adu : (h, w) float deposited cluster charge, ADU.
    class_map : (h, w) uint8 class ids the catalogue was made from.

    Returns
    -------
    deposited_adu : (n,) float64, `cluster_adu` summed over the true cluster
        with the largest overlap with each catalogue cluster; NaN when none.
    relative_error : (n,) float64, (charge_adu - deposited_adu) / deposited_adu.
    """
    n = _check_catalogue(catalogue)
    class_map = np.asarray(class_map)
    if not (np.shape(truth) == np.shape(cluster_adu) == class_map.shape):
        raise UserInputError(f"shapes differ: truth {np.shape(truth)}, cluster_adu {np.shape(cluster_adu)}, "
                             f"class map {class_map.shape}")
    pred_labels, n_pred = ndimage.label(class_map == CLUSTER, structure=EIGHT_NEIGHBOURS)
    if n_pred != n:
        raise UserInputError(f"catalogue has {n} clusters but its class map {n_pred}: not made from it")
    true_labels, n_true = ndimage.label(np.asarray(truth) == CLUSTER, structure=EIGHT_NEIGHBOURS)
    deposited_true = np.zeros(n_true + 1)
    deposited_true[1:] = ndimage.sum_labels(np.asarray(cluster_adu, dtype=np.float64), true_labels,
                                            np.arange(1, n_true + 1))
    both = (pred_labels > 0) & (true_labels > 0)
    pair = pred_labels[both].astype(np.int64) * (n_true + 1) + true_labels[both]
    pairs, overlap = np.unique(pair, return_counts=True)
    order = np.lexsort((overlap, pairs // (n_true + 1)))  # by cluster, largest overlap last
    pred_of_pair, true_of_pair = np.divmod(pairs[order], n_true + 1)
    last = np.r_[pred_of_pair[1:] != pred_of_pair[:-1], True][: pairs.size]
    best_true = np.zeros(n + 1, dtype=np.int64)
    best_true[pred_of_pair[last]] = true_of_pair[last]
    deposited = np.where(best_true[1:] > 0, deposited_true[best_true[1:]], np.nan)
    ids = np.asarray(catalogue["cluster_id"], dtype=np.int64)
    deposited = deposited[ids - 1] if n else deposited
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = (np.asarray(catalogue["charge_adu"], dtype=np.float64) - deposited) / deposited
    return deposited, relative
