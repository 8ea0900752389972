"""Load data sets and labels: .npy pairs, PNG folders, labelme polygons; class weights.

FITS detector frames are read here too (`process_fits`), cut into overlapping
sections and put back together (`images_small2big`).
"""
from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mask import CLASS_NAMES, N_CLASSES, UserInputError, class_id, get_monochrome, statistics

# %% Settings - edit here when running top to bottom in Spyder
WEIGHTING = "inverse"
WEIGHTINGS = ("inverse", "sqrt", "none")
TILE_SIZE_PX = 1024
MARGIN_PX = 32
SECTION_SIZE_PX = 256
MIN_FRAME_PX = 16
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fz")


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


# %% Writing files safely
def write_atomically(path: str | Path, write: Callable[[Path], None], force: bool = False) -> Path:
    """Write a file through a temporary file in the same folder, then rename it into place.

    `write(tmp)` must create the file `tmp`. An interrupted run leaves no
    half-written `path`; an existing `path` is replaced only with `force`.
    """
    path = Path(path)
    if path.exists() and not force:
        raise UserInputError(f"{path}: exists; use --force to overwrite")
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


# %% Overlapping sections of a whole frame
@dataclass(frozen=True)
class TileLayout:
    """Where the overlapping sections of a frame lie, and which part of each is kept.

    Every section is `window` (rows, columns) px. Section number
    i * len(col_starts) + j starts at row `row_starts[i]`, column
    `col_starts[j]`, and its prediction is kept for the frame's rows
    `row_cuts[i]:row_cuts[i + 1]` and columns `col_cuts[j]:col_cuts[j + 1]`.
    So every pixel comes from exactly one section, at least the margin away
    from that section's edges, except at the frame's own edges. A section may
    reach past the frame's bottom or right edge by less than the model's
    multiple; `cut_section` fills those pixels by reflection.
    """

    frame_shape: tuple[int, int]
    window: tuple[int, int]
    row_starts: tuple[int, ...]
    col_starts: tuple[int, ...]
    row_cuts: tuple[int, ...]
    col_cuts: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.row_starts) * len(self.col_starts)

    def origin(self, index: int) -> tuple[int, int]:
        """(row, column) in the frame of section `index`'s top-left pixel."""
        i, j = divmod(index, len(self.col_starts))
        return self.row_starts[i], self.col_starts[j]

    def kept(self, index: int) -> tuple[slice, slice]:
        """Rows and columns of the frame whose prediction comes from section `index`."""
        i, j = divmod(index, len(self.col_starts))
        return slice(self.row_cuts[i], self.row_cuts[i + 1]), slice(self.col_cuts[j], self.col_cuts[j + 1])

    @property
    def model_pixels(self) -> int:
        """Pixels the model computes for the frame, overlaps included."""
        return len(self) * self.window[0] * self.window[1]


def _plan_axis(size: int, tile_px: int, margin_px: int, multiple: int) -> tuple[int, tuple, tuple]:
    """Window side, section starts and kept-part cuts along one axis of `size` px."""
    padded = -(-size // multiple) * multiple
    if padded <= tile_px:
        return padded, (0,), (0, size)
    count = math.ceil((padded - tile_px) / (tile_px - 2 * margin_px)) + 1
    while True:
        needed = math.ceil((padded + (count - 1) * 2 * margin_px) / count)
        for window in range(-(-needed // multiple) * multiple, tile_px + 1, multiple):
            steps = (padded - window) // multiple
            starts = [multiple * ((i * steps + (count - 1) // 2) // (count - 1)) for i in range(count)]
            if all(a + window - b >= 2 * margin_px for a, b in zip(starts, starts[1:])):
                cuts = [0] + [min((a + window + b) // 2, size) for a, b in zip(starts, starts[1:])] + [size]
                return window, tuple(starts), tuple(cuts)
        count += 1


def plan_sections(
    frame_shape: tuple[int, int], tile_px: int = TILE_SIZE_PX, margin_px: int = MARGIN_PX, multiple: int = 1
) -> TileLayout:
    """Plan overlapping sections that cover a whole frame of any size.

    Parameters
    ----------
    frame_shape : (h, w) px of the frame.
    tile_px : largest section side (px) given to the model; a multiple of `multiple`.
    margin_px : px along each section edge whose prediction is dropped (the
        model sees them only as context); neighbouring sections overlap by at
        least twice this, so objects cut by a section edge are seen whole by a
        neighbour.
    multiple : section sides and starts are multiples of this (the model's
        2**depth), so each section sees the same pooling grid as the whole
        frame would.

    Along each axis the fewest sections of at most `tile_px` are used, spread
    evenly and made as small as that count allows, so overlaps cost little.
    A frame smaller than a tile is one section, padded up to the multiple.
    """
    if len(frame_shape) != 2 or min(frame_shape) < 1:
        raise UserInputError(f"frame shape {tuple(frame_shape)} must be two positive sizes")
    if margin_px < 0 or tile_px % multiple or tile_px - 2 * margin_px < multiple:
        raise UserInputError(
            f"tile {tile_px} px with margin {margin_px} px: the tile must be a multiple of {multiple} px"
            f" and exceed twice the margin by at least {multiple} px"
        )
    height, width = (int(s) for s in frame_shape)
    window_h, row_starts, row_cuts = _plan_axis(height, tile_px, margin_px, multiple)
    window_w, col_starts, col_cuts = _plan_axis(width, tile_px, margin_px, multiple)
    return TileLayout((height, width), (window_h, window_w), row_starts, col_starts, row_cuts, col_cuts)


def cut_section(frame: np.ndarray, layout: TileLayout, index: int) -> np.ndarray:
    """Section `index` (th, tw) of a frame (h, w), reflected where it reaches past the frame."""
    top, left = layout.origin(index)
    height, width = layout.window
    section = frame[top : top + height, left : left + width]
    short_h, short_w = height - section.shape[0], width - section.shape[1]
    if short_h or short_w:
        section = np.pad(section, ((0, short_h), (0, short_w)), mode="reflect")
    return section


def frame_to_sections(frame: np.ndarray, layout: TileLayout) -> np.ndarray:
    """All sections (n, th, tw) of a frame (h, w); `images_small2big` puts them back."""
    frame = np.asarray(frame)
    if frame.shape != layout.frame_shape:
        raise UserInputError(f"frame shape {frame.shape} differs from the layout's {layout.frame_shape}")
    return np.stack([cut_section(frame, layout, i) for i in range(len(layout))])


def iter_section_batches(
    frame: np.ndarray, layout: TileLayout, batch_size: int
) -> Iterator[tuple[range, np.ndarray]]:
    """Yield (section numbers, sections (b, th, tw)) in batches, to stream a frame through a model."""
    for start in range(0, len(layout), batch_size):
        numbers = range(start, min(start + batch_size, len(layout)))
        yield numbers, np.stack([cut_section(frame, layout, i) for i in numbers])


def paste_section(full: np.ndarray, section: np.ndarray, layout: TileLayout, index: int) -> None:
    """Copy the kept part of section `index` (th, tw, ...) into the full map (h, w, ...)."""
    rows, cols = layout.kept(index)
    top, left = layout.origin(index)
    full[rows, cols] = section[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]


def images_small2big(sections: np.ndarray, layout: TileLayout) -> np.ndarray:
    """Reconstruct the full map (h, w, ...) from sections (n, th, tw, ...) of `layout`.

    Each pixel is taken from the centre of the one section that keeps it, so
    there are no seams; works for class ids, probabilities or images alike.
    """
    sections = np.asarray(sections)
    if sections.shape[:3] != (len(layout), *layout.window):
        raise UserInputError(
            f"sections of shape {sections.shape[:3]} do not fit the layout's {(len(layout), *layout.window)}"
        )
    full = np.empty(layout.frame_shape + sections.shape[3:], dtype=sections.dtype)
    for index, section in enumerate(sections):
        paste_section(full, section, layout, index)
    return full


def fill_masked(image: np.ndarray) -> np.ndarray:
    """Copy of an image (h, w) with NaN and inf pixels replaced by the median, for drawing."""
    image = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(image)
    if finite.all():
        return image
    return np.where(finite, image, np.median(image[finite]) if finite.any() else 0.0).astype(np.float32)


def check_one_object(
    image: np.ndarray,
    class_map: np.ndarray,
    which: str | int,
    section_px: int = SECTION_SIZE_PX,
    output: str | Path | None = None,
    stem: str = "frame",
    max_figures: int = 10,
    show: bool = True,
    force: bool = False,
) -> list[dict]:
    """List and draw the sections of a frame that contain class `which`.

    Parameters
    ----------
    image : (h, w) ADU; NaN pixels are drawn at the median.
    class_map : (h, w) uint8 class ids of the whole frame.
    which : a class name or id ('cluster', 3).
    section_px : side of the sections searched; the last row and column of
        sections keep the remainder, so the whole frame is searched.
    output : folder for the figures `STEM_CLASS_rROW_cCOL.png` (None: not saved).
    max_figures : draw at most this many sections, in frame order.

    Returns
    -------
    One dict per section holding the class, in frame order: 'rows' and
    'columns' (start, stop) in the full frame (0-based, stop excluded) and
    'pixels', the number of pixels of the class in it.
    """
    from mask import visualize_label

    cid = class_id(which)
    class_map = np.asarray(class_map)
    if class_map.ndim != 2 or np.shape(image) != class_map.shape:
        raise UserInputError(f"image {np.shape(image)} and class map {class_map.shape} must be one (h, w) shape")
    height, width = class_map.shape
    row_edges, col_edges = np.arange(0, height, section_px), np.arange(0, width, section_px)
    hits = np.add.reduceat(np.add.reduceat(class_map == cid, row_edges, axis=0, dtype=np.int64), col_edges, axis=1)
    found = [
        {
            "rows": (int(r0), int(min(r0 + section_px, height))),
            "columns": (int(c0), int(min(c0 + section_px, width))),
            "pixels": int(hits[i, j]),
        }
        for i, r0 in enumerate(row_edges)
        for j, c0 in enumerate(col_edges)
        if hits[i, j]
    ]
    name = CLASS_NAMES[cid]
    for section in found[:max_figures]:
        rows, cols = slice(*section["rows"]), slice(*section["columns"])
        title = f"{stem}: {name} in rows {rows.start}:{rows.stop}, columns {cols.start}:{cols.stop}"

        def draw(path: Path | None, rows=rows, cols=cols, title=title) -> None:
            visualize_label(fill_masked(image[rows, cols]), None, class_map[rows, cols], path, title, show, only=cid)

        if output is None:
            draw(None)
        else:
            figure = Path(output) / f"{stem}_{name.replace(' ', '_')}_r{rows.start:05d}_c{cols.start:05d}.png"
            write_atomically(figure, draw, force)
    return found


def format_sections(found: list[dict], which: str | int) -> str:
    """Text listing of `check_one_object`'s sections: one line per section, frame coordinates."""
    name = CLASS_NAMES[class_id(which)]
    lines = [f"{len(found)} sections contain {name} (rows and columns 0-based, stop excluded):"]
    lines += [f"rows {s['rows'][0]}:{s['rows'][1]}, columns {s['columns'][0]}:{s['columns'][1]}: "
              f"{s['pixels']} px of {name}" for s in found]
    return "\n".join(lines)


# %% FITS detector frames
STRUCTURAL_KEYWORDS = (
    "SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "GROUPS",
    "BZERO", "BSCALE", "BLANK", "BUNIT", "DATAMIN", "DATAMAX", "CHECKSUM", "DATASUM",
)  # fmt: skip


@dataclass
class FitsFrame:
    """One 2-D image plane of a FITS file, read for segmentation.

    data : (h, w) float32 ADU of the analysed region, BZERO and BSCALE
        applied; NaN where `masked`.
    masked : (h, w) bool, pixels that held NaN, inf or the BLANK value.
    header : the image HDU's header (astropy `Header`).
    image_shape : (rows, columns) of the whole plane in the file.
    region : (row0, row1, col0, col1), 0-based, stop excluded: where `data`
        lies in the plane.
    normalised : (h, w) float32 normalised frame, when asked for.
    """

    path: Path
    hdu_index: int
    hdu_name: str
    plane: int | None
    data: np.ndarray
    masked: np.ndarray
    header: object
    image_shape: tuple[int, int]
    region: tuple[int, int, int, int]
    normalised: np.ndarray | None = None

    @property
    def n_masked(self) -> int:
        """Number of masked (NaN, inf or BLANK) pixels in the region."""
        return int(np.count_nonzero(self.masked))

    @property
    def region_text(self) -> str:
        """The analysed region in FITS notation '[x1:x2,y1:y2]' (1-based, inclusive)."""
        r0, r1, c0, c1 = self.region
        return f"[{c0 + 1}:{c1},{r0 + 1}:{r1}]"

    @property
    def where(self) -> str:
        """'HDU 1 (SCI) plane 2': where in its file the frame is, for messages."""
        plane = "" if self.plane is None else f" plane {self.plane}"
        return f"HDU {self.hdu_index} ({self.hdu_name or '-'}){plane}"


def is_fits_name(path: str | Path) -> bool:
    """True for file names ending in a FITS suffix (.fits, .fit, .fts, gzipped, .fz)."""
    return str(path).lower().endswith(FITS_SUFFIXES)


def fits_stem(path: str | Path) -> str:
    """File name without its FITS suffix: 'run12.fits.gz' -> 'run12'."""
    name = Path(path).name
    for suffix in sorted(FITS_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def _one_line(text: object, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_fits(path: str | Path, read: Callable):
    """Open a FITS file read-only with unscaled data and return `read(hdul)`.

    Every failure of the file (missing, unreadable, truncated, corrupt) raises
    `UserInputError` with a one-line message that starts with the path.
    """
    from astropy.io import fits

    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{path}: no such file")
    if not path.is_file():
        raise UserInputError(f"{path}: not a file")
    failure = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, do_not_scale_image_data=True) as hdul:
                result = read(hdul)
        except UserInputError:
            raise
        except PermissionError as exc:
            raise UserInputError(f"{path}: cannot read ({exc.strerror})") from None
        except Exception as exc:  # astropy reports damaged files with many exception types
            failure = f"{type(exc).__name__}: {exc}"
    truncated = [str(w.message) for w in caught if "truncated" in str(w.message).lower()]
    if truncated:
        raise UserInputError(f"{path}: truncated FITS file ({_one_line(truncated[0])})")
    if failure is not None:
        raise UserInputError(f"{path}: not a readable FITS file ({_one_line(failure)})")
    return result


def _image_types() -> tuple:
    from astropy.io import fits

    return (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)


def _describe_hdus(hdul) -> str:
    parts = []
    for i, h in enumerate(hdul):
        shape = "x".join(str(s) for s in h.shape) if isinstance(h, _image_types()) and h.shape else "no image"
        parts.append(f"{i} {h.name or '-'} ({shape})")
    return ", ".join(parts)


def find_image_hdu(hdul, hdu: int | str | None, path: str | Path = "") -> int:
    """Index of the image HDU to read: `hdu` by index or EXTNAME, or by default
    the first 2-D image (else the first 3-D cube)."""
    if hdu is None:
        for ndim in (2, 3):
            for index, h in enumerate(hdul):
                if isinstance(h, _image_types()) and len(h.shape) == ndim and 0 not in h.shape:
                    return index
        raise UserInputError(f"{path}: no 2-D image data in any HDU (HDUs: {_describe_hdus(hdul)})")
    if isinstance(hdu, (int, np.integer)) or str(hdu).strip().isdigit():
        index = int(hdu)
        if not 0 <= index < len(hdul):
            raise UserInputError(f"{path}: no HDU {index}; HDUs: {_describe_hdus(hdul)}")
    else:
        names = [h.name.upper() for h in hdul]
        if str(hdu).strip().upper() not in names:
            raise UserInputError(f"{path}: no HDU named {hdu!r}; HDUs: {_describe_hdus(hdul)}")
        index = names.index(str(hdu).strip().upper())
    h = hdul[index]
    if not isinstance(h, _image_types()) or len(h.shape) not in (2, 3) or 0 in h.shape:
        raise UserInputError(f"{path}: HDU {index} holds no 2-D image or 3-D cube; HDUs: {_describe_hdus(hdul)}")
    return index


def parse_region(spec: str | None, header, shape: tuple[int, int], path: str | Path = "") -> tuple[int, int, int, int]:
    """Rows and columns (row0, row1, col0, col1; 0-based, stop excluded) of a region of a plane.

    spec : None (the whole plane), a FITS section '[x1:x2,y1:y2]' (1-based,
        inclusive, x = column, '*' for a whole axis, as in a DATASEC keyword),
        or the name of a header keyword holding one ('DATASEC', 'TRIMSEC'),
        e.g. to leave out overscan.
    """
    import re

    height, width = shape
    if spec is None:
        return 0, height, 0, width
    text = str(spec).strip()
    if not text.startswith("["):
        if text.upper() not in header:
            raise UserInputError(f"{path}: region {text!r} is neither [x1:x2,y1:y2] nor a header keyword")
        text = str(header[text.upper()]).strip()
    match = re.fullmatch(r"\[\s*(\*|\d+\s*:\s*\d+)\s*,\s*(\*|\d+\s*:\s*\d+)\s*\]", text)
    if match is None:
        raise UserInputError(f"{path}: region {text!r} is not of the form [x1:x2,y1:y2]")

    def bounds(part: str, size: int, axis: str) -> tuple[int, int]:
        if part == "*":
            return 0, size
        low, high = (int(v) for v in part.split(":"))
        if not 1 <= low <= high <= size:
            raise UserInputError(f"{path}: region {text}: {axis} {low}:{high} is not within 1:{size}")
        return low - 1, high

    col0, col1 = bounds(match[1], width, "x")
    row0, row1 = bounds(match[2], height, "y")
    return row0, row1, col0, col1


def _to_adu(raw: np.ndarray, header) -> tuple[np.ndarray, np.ndarray]:
    """Raw stored values -> (float32 ADU with NaN where masked, mask), using BZERO, BSCALE, BLANK."""
    raw = np.asarray(raw)
    masked = np.zeros(raw.shape, dtype=bool)
    if raw.dtype.kind in "iu" and "BLANK" in header:
        masked = raw == int(header["BLANK"])
    bscale, bzero = float(header.get("BSCALE", 1.0)), float(header.get("BZERO", 0.0))
    if bscale != 1.0 or bzero != 0.0:
        with np.errstate(over="ignore", invalid="ignore"):
            data = (raw.astype(np.float64) * bscale + bzero).astype(np.float32)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            data = np.array(raw, dtype=np.float32)
    masked |= ~np.isfinite(data)
    data[masked] = np.nan
    return data, masked


def fits_planes(path: str | Path, hdu: int | str | None = None) -> list[int | None]:
    """The planes to segment in a FITS image HDU: [None] for a 2-D image, 0..n-1 for a cube."""

    def read(hdul) -> list[int | None]:
        shape = hdul[find_image_hdu(hdul, hdu, path)].shape
        return [None] if len(shape) == 2 else list(range(shape[0]))

    return read_fits(path, read)


def process_fits(
    path: str | Path,
    hdu: int | str | None = None,
    plane: int | None = None,
    region: str | None = None,
    normalise: bool | dict = False,
) -> FitsFrame:
    """Read one image plane of a FITS file for segmentation.

    Parameters
    ----------
    path : a FITS file (gzipped and tile-compressed files too).
    hdu : index or EXTNAME of the image HDU; None: the first 2-D image.
    plane : which plane of a 3-D cube (0-based); must be None for a 2-D image.
    region : part of the plane to keep, e.g. without overscan: a FITS section
        '[x1:x2,y1:y2]' or a header keyword holding one ('DATASEC'); see
        `parse_region`. None keeps the whole plane.
    normalise : True adds `normalised`, the frame normalised by
        `models.normalise_frames` (a dict: with that normalisation, as in a
        model's card). Computed once on the whole region, NaN-aware.

    Returns
    -------
    A `FitsFrame`: data (h, w) float32 ADU with BZERO/BSCALE applied and NaN
    where the file held NaN, inf or BLANK (counted in `masked`), the header,
    and where the data lie in the plane. Only the chosen plane and region are
    read from disk. Integer data are converted to float32 ADU for the model;
    the file is never changed.

    Raises `UserInputError`, with a message starting with the path, for a
    missing, unreadable, truncated or corrupt file, a file without image
    data, a bad HDU, plane or region, a region smaller than
    `MIN_FRAME_PX` on a side, or a frame whose pixels are all masked.
    """
    path = Path(path)

    def read(hdul) -> FitsFrame:
        index = find_image_hdu(hdul, hdu, path)
        image = hdul[index]
        shape = image.shape
        if len(shape) == 3 and plane is None:
            raise UserInputError(f"{path}: HDU {index} is a cube of {shape[0]} planes; choose a plane")
        if len(shape) == 3 and not 0 <= int(plane) < shape[0]:
            raise UserInputError(f"{path}: HDU {index} has planes 0..{shape[0] - 1}, not {plane}")
        if len(shape) == 2 and plane is not None:
            raise UserInputError(f"{path}: HDU {index} is a 2-D image; it has no plane {plane}")
        row0, row1, col0, col1 = parse_region(region, image.header, shape[-2:], path)
        if min(row1 - row0, col1 - col0) < MIN_FRAME_PX:
            raise UserInputError(
                f"{path}: frame of {row1 - row0} x {col1 - col0} px is too small;"
                f" at least {MIN_FRAME_PX} x {MIN_FRAME_PX} px are needed"
            )
        key = (slice(row0, row1), slice(col0, col1))
        raw = image.section[(int(plane), *key) if len(shape) == 3 else key]
        data, masked = _to_adu(raw, image.header)
        return FitsFrame(
            path=path,
            hdu_index=index,
            hdu_name=image.name,
            plane=None if plane is None else int(plane),
            data=data,
            masked=masked,
            header=image.header.copy(),
            image_shape=tuple(int(s) for s in shape[-2:]),
            region=(row0, row1, col0, col1),
        )

    frame = read_fits(path, read)
    if frame.masked.all():
        raise UserInputError(f"{path}: {frame.where}: all {frame.data.size} pixels are NaN, infinite or BLANK")
    if normalise is not False:
        from models import normalise_frames

        frame.normalised = normalise_frames(frame.data, None if normalise is True else normalise)
    return frame


def segmentation_header(frame: FitsFrame, class_map: np.ndarray, notes: dict | None = None):
    """Header of a segmentation FITS: the input header, the class legend and provenance.

    Structural keywords (BITPIX, NAXISn, BZERO, BSCALE, BLANK, BUNIT,
    checksums) are left out, since the data are now uint8 class ids; `notes`
    maps keywords to (value, comment) pairs to add.
    """
    from astropy.io import fits

    from mask import get_percentages

    header = fits.Header()
    for card in frame.header.cards:
        key = card.keyword
        if key in STRUCTURAL_KEYWORDS or key.startswith("NAXIS"):
            continue
        header.append(card, end=True)
    for cid, name in enumerate(CLASS_NAMES):
        header[f"CLASS{cid}"] = (name, f"pixel value {cid} in this class map")
    r0, r1, c0, c1 = frame.region
    percentages = get_percentages(class_map[r0:r1, c0:c1])
    for cid, share in enumerate(percentages):
        header[f"SEGPCT{cid}"] = (round(float(share), 4), f"% of analysed pixels: {CLASS_NAMES[cid]}")
    header["SEGSRC"] = (frame.path.name, "segmented file")
    header["SEGHDU"] = (frame.hdu_index, f"its HDU ({frame.hdu_name})")
    if frame.plane is not None:
        header["SEGPLANE"] = (frame.plane, "its cube plane (0-based)")
    header["SEGREGN"] = (frame.region_text, "analysed region; outside it: class 0")
    header["SEGNMASK"] = (frame.n_masked, "NaN/inf/BLANK pixels, set to class 0")
    for key, (value, comment) in (notes or {}).items():
        header[key] = (value, comment)
    header.add_history("Class map of a U-Net (load_model.py): 0 background, 1 glowing, 2 hot pixel, 3 cluster")
    return header


def write_segmentation_fits(
    path: str | Path, frame: FitsFrame, classes: np.ndarray, notes: dict | None = None, force: bool = False
) -> Path:
    """Write the class map of `frame` as a uint8 FITS image of the whole plane's shape, atomically.

    classes : (h, w) uint8 class ids of the analysed region (`frame.data`'s
        shape). Pixels outside the region are class 0 (background).
    """
    from astropy.io import fits

    classes = np.asarray(classes, dtype=np.uint8)
    if classes.shape != frame.data.shape:
        raise UserInputError(f"{frame.path}: class map {classes.shape} differs from the frame's {frame.data.shape}")
    class_map = np.zeros(frame.image_shape, dtype=np.uint8)
    r0, r1, c0, c1 = frame.region
    class_map[r0:r1, c0:c1] = classes
    header = segmentation_header(frame, class_map, notes)
    hdu = fits.PrimaryHDU(data=class_map, header=header)
    return write_atomically(path, lambda tmp: hdu.writeto(tmp, output_verify="silentfix+ignore", checksum=True), force)
