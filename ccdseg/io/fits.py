"""FITS detector frames in (astropy): HDUs, planes, regions, BZERO/BSCALE/BLANK, the ADC range.

Frames are read read-only and unscaled, one plane and region at a time, with
BZERO, BSCALE and BLANK applied by us so that no value is silently cast.
Values no ADC can give (beyond the range the header states, or a cut the
user sets) are masked as NaN pixels are, and counted. The class maps written
from them are `class_map_fits.py`'s; experiment-like multi-extension files
(`write_image_extensions`) are written here.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ccdseg.core.checks import MIN_FRAME_PX
from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import write_atomically
from ccdseg.io.compression import compressed_hdu
from ccdseg.io.fits_values import adc_range, to_adu

# %% Conventions
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fz")
STRUCTURAL_KEYWORDS = (
    "SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "GROUPS",
    "BZERO", "BSCALE", "BLANK", "BUNIT", "DATAMIN", "DATAMAX", "CHECKSUM", "DATASUM",
)  # fmt: skip


@dataclass
class FitsFrame:
    """One 2-D image plane of a FITS file, read for segmentation.

    data : (h, w) float32 ADU of the analysed region, BZERO and BSCALE
        applied; NaN where `masked`.
    masked : (h, w) bool, pixels that held NaN, inf or the BLANK value, or
        a value beyond the ADC range (`adc_range`; counted in `n_beyond_range`).
    header : the image HDU's header (astropy `Header`).
    image_shape : (rows, columns) of the whole plane in the file.
    region : (row0, row1, col0, col1), 0-based, stop excluded: where `data`
        lies in the plane.
    normalised : (h, w, c) float32 network input of the frame, when a caller adds it.
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
    n_beyond_range: int = 0
    adc_range_adu: tuple[float, float, str] = (-np.inf, np.inf, "")

    @property
    def n_masked(self) -> int:
        """Number of masked pixels in the region: NaN, inf, BLANK, or beyond the ADC range."""
        return int(np.count_nonzero(self.masked))

    @property
    def region_text(self) -> str:
        """The analysed region in FITS notation '[x1:x2,y1:y2]' (1-based, inclusive)."""
        r0, r1, c0, c1 = self.region
        return f"[{c0 + 1}:{c1},{r0 + 1}:{r1}]"

    @property
    def where(self) -> str:
        """'HDU 1 (SCI) plane 2': where in its file the frame is, for messages."""
        return hdu_text(self.hdu_index, self.hdu_name) + ("" if self.plane is None else f" plane {self.plane}")


def header_text(text: str) -> str:
    """`text` as a FITS header value can hold it: printable ASCII, other characters escaped ('\\xe9')."""
    escaped = str(text).encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if 32 <= ord(c) < 127 else f"\\x{ord(c):02x}" for c in escaped)


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


@dataclass(frozen=True)
class ImageHdu:
    """One image HDU of a file: index, EXTNAME ('' when none), shape ((h, w) or (planes, h, w)) and header."""

    index: int
    name: str
    shape: tuple[int, ...]
    header: object


def _not_an_image(h) -> str | None:
    """Why HDU `h` is no frame to segment ('a table', 'a 1-D image', ...); None for a 2-D image or 3-D cube."""
    if not isinstance(h, _image_types()):
        return "a table" if "Table" in type(h).__name__ else f"a {type(h).__name__}"
    if not h.shape or 0 in h.shape:
        return "holds no data"
    return None if len(h.shape) in (2, 3) else f"a {len(h.shape)}-D image"


def image_hdus(path: str | Path, hdu: int | str | None = None) -> tuple[object, list[ImageHdu], list[str]]:
    """The primary header, the image HDUs to segment, and a note for each HDU that is not taken.

    Every 2-D image and 3-D cube is taken, or only the one `hdu` names
    (`find_image_hdu`). Not taken, each named in a note: tables, images of
    other dimensions, extensions without data (a primary HDU holding only a
    header, as the experiments' readout configuration, is no note). A file
    without any image raises `UserInputError` naming it.
    """
    path = Path(path)

    def read(hdul):
        chosen = [find_image_hdu(hdul, hdu, path)] if hdu is not None else range(len(hdul))
        images, notes = [], []
        for index in chosen:
            h = hdul[index]
            why = _not_an_image(h)
            if why is None:
                images.append(ImageHdu(index, h.name, tuple(int(s) for s in h.shape), h.header.copy()))
            elif index or why != "holds no data":
                notes.append(f"{hdu_text(index, h.name)} is {why}: skipped" if why.startswith("a ")
                             else f"{hdu_text(index, h.name)} {why}: skipped")
        if not images:
            raise UserInputError(f"{path}: no 2-D image data in any HDU (HDUs: {_describe_hdus(hdul)})")
        return hdul[0].header.copy(), images, notes

    return read_fits(path, read)


def parse_region(spec: str | None, header, shape: tuple[int, int], path: str | Path = "") -> tuple[int, int, int, int]:
    """Rows and columns (row0, row1, col0, col1; 0-based, stop excluded) of a region of a plane.

    spec : None (the whole plane), a FITS section '[x1:x2,y1:y2]' (1-based,
        inclusive, x = column, '*' for a whole axis, as in a DATASEC keyword),
        or the name of a header keyword holding one ('DATASEC', 'TRIMSEC'),
        e.g. to leave out overscan.
    """
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


def fits_planes(path: str | Path, hdu: int | str | None = None) -> list[int | None]:
    """The planes to segment in a FITS image HDU: [None] for a 2-D image, 0..n-1 for a cube."""

    def read(hdul) -> list[int | None]:
        shape = hdul[find_image_hdu(hdul, hdu, path)].shape
        return [None] if len(shape) == 2 else list(range(shape[0]))

    return read_fits(path, read)


def hdu_text(index: int, name: str) -> str:
    """'HDU 1 (CCD_A)': an HDU for messages."""
    return f"HDU {index} ({name or '-'})"


def frame_region(path: str | Path, index: int, name: str, shape: tuple, header, plane: int | None,
                 region: str | None) -> tuple[int, int, int, int]:
    """Where one frame lies in its HDU's plane, (row0, row1, col0, col1), checked without reading pixels.

    Raises `UserInputError` naming the file and HDU for a plane that the
    HDU does not have (or a cube without a plane), a region that does not
    fit (`parse_region`) or a frame smaller than `MIN_FRAME_PX` on a side.
    """
    where = f"{path}: {hdu_text(index, name)}"
    if len(shape) == 3 and plane is None:
        raise UserInputError(f"{where} is a cube of {shape[0]} planes; choose a plane")
    if len(shape) == 3 and not 0 <= int(plane) < shape[0]:
        raise UserInputError(f"{where} has planes 0..{shape[0] - 1}, not {plane}")
    if len(shape) == 2 and plane is not None:
        raise UserInputError(f"{where} is a 2-D image; it has no plane {plane}")
    row0, row1, col0, col1 = parse_region(region, header, shape[-2:], where)
    if min(row1 - row0, col1 - col0) < MIN_FRAME_PX:
        raise UserInputError(f"{where}: frame of {row1 - row0} x {col1 - col0} px is too small;"
                             f" at least {MIN_FRAME_PX} x {MIN_FRAME_PX} px are needed")
    return row0, row1, col0, col1


def _read_plane(hdul, path: Path, hdu: int | str | None, plane: int | None, region: str | None,
                max_adu: float | None) -> FitsFrame:
    """Read one plane and region of an open FITS file as a `FitsFrame` (see `read_fits_frame`)."""
    index = find_image_hdu(hdul, hdu, path)
    image = hdul[index]
    shape = image.shape
    row0, row1, col0, col1 = frame_region(path, index, image.name, shape, image.header, plane, region)
    try:
        limits = adc_range(image.header, max_adu)
    except UserInputError as exc:
        raise UserInputError(f"{path}: {hdu_text(index, image.name)}: {exc}") from None
    key = (slice(row0, row1), slice(col0, col1))
    raw = image.section[(int(plane), *key) if len(shape) == 3 else key]
    data, masked, beyond = to_adu(raw, image.header, limits)
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
        n_beyond_range=beyond,
        adc_range_adu=limits,
    )


def read_fits_frame(
    path: str | Path,
    hdu: int | str | None = None,
    plane: int | None = None,
    region: str | None = None,
    max_adu: float | None = None,
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
    max_adu : values above it are masked (the user's cut), besides those
        beyond the range the header states (`adc_range`).

    Returns
    -------
    A `FitsFrame`: data (h, w) float32 ADU with BZERO/BSCALE applied and NaN
    where the file held NaN, inf, BLANK or a value beyond the ADC range
    (counted in `masked`, those beyond the range in `n_beyond_range`), the header,
    and where the data lie in the plane. Only the chosen plane and region are
    read from disk. Integer data are converted to float32 ADU for the model;
    the file is never changed.

    Raises `UserInputError`, with a message starting with the path, for a
    missing, unreadable, truncated or corrupt file, a file without image
    data, a bad HDU, plane or region, a region smaller than
    `MIN_FRAME_PX` on a side, or a frame whose pixels are all masked.
    """
    path = Path(path)
    frame = read_fits(path, lambda hdul: _read_plane(hdul, path, hdu, plane, region, max_adu))
    if frame.masked.all():
        raise UserInputError(f"{path}: {frame.where}: all {frame.data.size} pixels are NaN, infinite, BLANK or"
                             f" beyond the ADC range ({frame.adc_range_adu[2]})")
    return frame


def write_image_extensions(
    path: str | Path, extensions: list[tuple[str, np.ndarray, dict]], primary_cards: dict, force: bool = False,
    compress: bool = True,
) -> Path:
    """Write a multi-extension FITS file laid out as the experiments' are, atomically.

    extensions : (EXTNAME, data (h, w), header cards {keyword: (value, comment)}) per image HDU, in order;
    primary_cards : cards of the primary HDU, which holds no data (the readout configuration).
    With `compress`, each image HDU is tile-compressed (RICE), as `.fz` files
    are: integers lossless, float data quantised as fpack does by default
    (`compression.compressed_hdu`).
    """
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    for key, card in primary_cards.items():
        primary.header[key] = card
    hdus = [primary]
    for name, data, cards in extensions:
        header = fits.Header()
        for key, card in cards.items():
            header[key] = card
        if compress:
            hdus.append(compressed_hdu(data, header=header, name=name))
        else:
            hdus.append(fits.ImageHDU(data=np.ascontiguousarray(data), header=header, name=name))
    hdul = fits.HDUList(hdus)
    return write_atomically(path, lambda tmp: hdul.writeto(tmp, output_verify="silentfix+ignore"), force)
