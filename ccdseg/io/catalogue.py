"""Cluster catalogues on disk: the columns of a catalogue, FITS tables and ROOT files, read and written.

A catalogue is a dict of equally long 1-d arrays, one per column of
`COLUMNS`, in that order (`infer.catalogue.cluster_catalogue` builds one from
a frame and its class map). Beside it, the list of frames processed
(`FRAME_COLUMNS`, one row per frame, its cluster count included), so that a
frame without any cluster can be told from a frame never processed.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import write_atomically
from ccdseg.io.fits import header_text, read_fits


class Column(NamedTuple):
    """One table column: its name, numpy dtype, FITS unit ('' for none), meaning, and value when absent.

    `fill` None: the column is required; else catalogues made without it
    (by code that does not know the column) get this value in every row.
    """

    name: str
    dtype: str
    unit: str
    description: str
    fill: object = None


# %% The columns (the one place they are defined)
EXTNAME = "CLUSTERS"
FRAMES_EXTNAME = "FRAMES"
COLUMNS = (
    Column("frame", "str", "", "name of the frame the cluster was found in"),
    Column("hdu", "str", "", "the frame's HDU in its file: EXTNAME, or HDUn when it has none", ""),
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
    Column("charge_electrons", "float64", "ct", "electrons: charge_adu / gain; NaN when the gain is unknown"),
    Column("energy_kev", "float64", "keV", "charge_electrons x 3.75 eV; NaN when the gain is unknown"),
    Column("sigma_x", "float64", "pix", "charge-weighted standard deviation along x"),
    Column("sigma_y", "float64", "pix", "charge-weighted standard deviation along y"),
    Column("touches_glowing", "bool", "", "8-neighbourhood touches a glowing pixel"),
    Column("touches_hot_pixel", "bool", "", "8-neighbourhood touches a hot pixel"),
    Column("touches_masked", "bool", "", "cluster or its 8-neighbourhood holds a masked (NaN) pixel"),
    Column("touches_edge", "bool", "", "cluster lies on the border of the analysed region"),
)
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
FRAME_COLUMNS = (
    Column("frame", "str", "", "name of the frame, as in the clusters' frame column"),
    Column("hdu", "str", "", "its HDU in its file: EXTNAME, or HDUn when it has none"),
    Column("source", "str", "", "the file it was read from"),
    Column("plane", "int64", "", "its plane of a 3-D cube, 0-based; -1 for a 2-D image"),
    Column("n_clusters", "int64", "", "clusters found in it (0 for a frame processed without any)"),
    Column("n_masked", "int64", "pix", "pixels masked: NaN, inf, BLANK or beyond the ADC range"),
    Column("gain", "float64", "adu/ct", "ADU per electron, used for charge_electrons; NaN when unknown"),
    Column("model", "str", "", "the model file that segmented it"),
    Column("run_key", "str", "", "key of the model and options that made it (SEGKEY)"),
)
_FITS_FORMATS = {"int64": "K", "float64": "D", "bool": "L"}


# %% Catalogues in memory
def _empty(columns: tuple[Column, ...]) -> dict[str, np.ndarray]:
    return {c.name: np.zeros(0, dtype="<U1" if c.dtype == "str" else c.dtype) for c in columns}


def empty_catalogue() -> dict[str, np.ndarray]:
    """A catalogue with every column of `COLUMNS` and no row."""
    return _empty(COLUMNS)


def _check(table: dict, columns: tuple[Column, ...], what: str) -> int:
    missing = [c.name for c in columns if c.name not in table and c.fill is None]
    if missing:
        raise UserInputError(f"{what} lacks the columns {', '.join(missing)}")
    lengths = {len(np.asarray(table[c.name])) for c in columns if c.name in table}
    if len(lengths) != 1:
        raise UserInputError(f"{what} columns have different lengths {sorted(lengths)}")
    return lengths.pop()


def check_catalogue(catalogue: dict) -> int:
    """Raise `UserInputError` unless every required column is present with one length; return that length."""
    return _check(catalogue, COLUMNS, "catalogue")


def _complete(table: dict, columns: tuple[Column, ...], what: str) -> dict[str, np.ndarray]:
    """`table` checked, in the columns' order, with the value of each absent optional column filled in."""
    rows = _check(table, columns, what)
    return {c.name: np.asarray(table[c.name]) if c.name in table else np.full(rows, c.fill) for c in columns}


def with_hdu(catalogue: dict, hdu: str) -> dict[str, np.ndarray]:
    """The catalogue in `COLUMNS` order with `hdu` (the frame's HDU name) in its `hdu` column."""
    table = dict(catalogue, hdu=np.full(check_catalogue(catalogue), str(hdu), dtype=f"<U{max(len(str(hdu)), 1)}"))
    return _complete(table, COLUMNS, "catalogue")


def concatenate(catalogues: list[dict]) -> dict[str, np.ndarray]:
    """One catalogue of a run from the catalogues of its frames (the `frame` column tells them apart)."""
    catalogues = [_complete(catalogue, COLUMNS, "catalogue") for catalogue in catalogues]
    if not catalogues:
        return empty_catalogue()
    return {c.name: np.concatenate([cat[c.name] for cat in catalogues]) for c in COLUMNS}


def frame_list(rows: list[dict]) -> dict[str, np.ndarray]:
    """The table of frames processed (`FRAME_COLUMNS`) from one dict of values per frame."""
    table = {c.name: np.array([row[c.name] for row in rows], dtype=str if c.dtype == "str" else c.dtype)
             for c in FRAME_COLUMNS}
    return table if rows else _empty(FRAME_COLUMNS)


def concatenate_frames(tables: list[dict]) -> dict[str, np.ndarray]:
    """One table of frames processed from several (`FRAME_COLUMNS`)."""
    tables = [_complete(table, FRAME_COLUMNS, "frame list") for table in tables]
    if not tables:
        return _empty(FRAME_COLUMNS)
    return {c.name: np.concatenate([table[c.name] for table in tables]) for c in FRAME_COLUMNS}


# %% FITS
def _table_hdu(table: dict, columns: tuple[Column, ...], name: str):
    """A table as an astropy `BinTableHDU`: each column with its unit (TUNITn) and description (TCOMMn)."""
    from astropy.io import fits

    fits_columns = []
    for column in columns:
        values = np.asarray(table[column.name])
        if column.dtype == "str":  # a few names, each on thousands of rows: each made ASCII once
            names, where = np.unique(values.astype(str), return_inverse=True)
            values = np.array([header_text(v) for v in names], dtype=str)[where.ravel()]
            fmt = f"{max(values.dtype.itemsize // 4, 1)}A"
        else:
            values = values.astype(column.dtype)
            fmt = _FITS_FORMATS[column.dtype]
        fits_columns.append(fits.Column(name=column.name, format=fmt, unit=column.unit or None, array=values))
    hdu = fits.BinTableHDU.from_columns(fits_columns, name=name)
    for number, column in enumerate(columns, start=1):
        hdu.header[f"TCOMM{number}"] = column.description
        room = 80 - 33  # what fits after "TTYPEn  = 'name' / "
        hdu.header.comments[f"TTYPE{number}"] = column.description[:room]
    return hdu


def to_fits_table(catalogue: dict, header_cards: dict | None = None):
    """The catalogue as an astropy `BinTableHDU` named 'CLUSTERS'.

    Every column carries its unit (TUNITn) and its description (TCOMMn, and
    the comment of TTYPEn); strings are ASCII (`header_text`). `header_cards`
    maps keyword -> value or (value, comment), e.g. the source frame's
    header values to carry along.
    """
    hdu = _table_hdu(_complete(catalogue, COLUMNS, "catalogue"), COLUMNS, EXTNAME)
    for keyword, card in (header_cards or {}).items():
        try:
            hdu.header[keyword] = card
        except (ValueError, TypeError) as exc:
            raise UserInputError(f"header card {keyword!r}: {exc}") from None
    return hdu


def write_catalogue_fits(path: str | Path, catalogue: dict, force: bool = False, header_cards: dict | None = None,
                         frames: dict | None = None) -> Path:
    """Write the catalogue as a FITS file (empty primary HDU, 'CLUSTERS' table, 'FRAMES' table), atomically.

    frames : the frames processed (`FRAME_COLUMNS`), written as the 'FRAMES'
    table when given. `header_cards` go to the CLUSTERS table. An existing
    `path` raises `UserInputError` unless `force`.
    """
    from astropy.io import fits

    hdus = [fits.PrimaryHDU(), to_fits_table(catalogue, header_cards)]
    if frames is not None:
        hdus.append(_table_hdu(_complete(frames, FRAME_COLUMNS, "frame list"), FRAME_COLUMNS, FRAMES_EXTNAME))
    return write_atomically(path, lambda tmp: fits.HDUList(hdus).writeto(tmp), force=force)


def _index(names: np.ndarray, order: list[str]) -> tuple[list[str], np.ndarray]:
    """(every name, first seen first; each of `names`' index in that list)."""
    every = list(dict.fromkeys([*order, *names.tolist()]))
    position = {name: number for number, name in enumerate(every)}
    return every, np.array([position[name] for name in names.tolist()], dtype=np.int64)


def write_catalogue_root(path: str | Path, catalogue: dict, force: bool = False, frames: dict | None = None) -> Path:
    """Write the catalogue as a ROOT file for the experiments' ROOT-based analyses (uproot), atomically.

    TTree 'clusters': every numeric and flag column, the frame as
    `frame_index` and the HDU as `hdu_index`; TObjString 'frames' and
    'hdus': the names, one a line, in index order, escaped as in the FITS
    table (`header_text`); TObjString 'units': 'column unit' lines. With
    `frames` (`FRAME_COLUMNS`), TTree 'frame_list': one entry per frame
    processed, clusters or none (`frame_index`, `hdu_index` and its numbers).
    """
    import uproot

    catalogue = _complete(catalogue, COLUMNS, "catalogue")
    table = None if frames is None else _complete(frames, FRAME_COLUMNS, "frame list")
    text = np.vectorize(header_text, otypes=[str])
    listed = [] if table is None else text(table["frame"]).tolist()
    frame_names, frame_index = _index(text(catalogue["frame"]) if len(catalogue["frame"]) else np.zeros(0, str), listed)
    listed_hdus = [] if table is None else table["hdu"].tolist()
    hdu_names, hdu_index = _index(np.asarray(catalogue["hdu"], dtype=str), listed_hdus)
    branches = {"frame_index": frame_index, "hdu_index": hdu_index}
    branches.update({c.name: np.asarray(catalogue[c.name]).astype(c.dtype) for c in COLUMNS if c.dtype != "str"})
    units = "\n".join(f"{c.name} {c.unit or '-'}" for c in COLUMNS if c.dtype != "str")
    listing = None
    if table is not None:
        listing = {"frame_index": _index(text(table["frame"]), frame_names)[1],
                   "hdu_index": _index(table["hdu"].astype(str), hdu_names)[1]}
        listing.update({c.name: table[c.name].astype(c.dtype) for c in FRAME_COLUMNS if c.dtype != "str"})

    def write(tmp: Path) -> None:
        with uproot.recreate(tmp) as root:
            root["clusters"] = branches
            root["frames"] = "\n".join(frame_names)
            root["hdus"] = "\n".join(hdu_names)
            root["units"] = units
            if listing is not None:
                root["frame_list"] = listing

    return write_atomically(path, write, force=force)


def _read_table(hdus, name: str, columns: tuple[Column, ...], path: Path) -> dict[str, np.ndarray] | None:
    """A table of `columns` read from the open FITS file (None when it has no HDU `name`)."""
    if name not in hdus:
        return None
    data = hdus[name].data
    table = {} if data is None else {key: np.array(data[key]) for key in data.columns.names}
    if not table or len(next(iter(table.values()))) == 0:
        return _empty(columns)
    for column in columns:
        if column.name in table:
            table[column.name] = table[column.name].astype(str if column.dtype == "str" else column.dtype)
    return _complete(table, columns, f"{path}: {name} table")


def read_catalogue_fits(path: str | Path, with_frames: bool = False):
    """Read a catalogue written by `write_catalogue_fits`: dict of (n,) arrays in `COLUMNS` order.

    with_frames : also return its frame list (`FRAME_COLUMNS`; None when
    the file has none): (catalogue, frames). A missing, truncated or corrupt
    file raises `UserInputError` in one line naming it, without warnings.
    """
    path = Path(path)

    def read(hdus):
        catalogue = _read_table(hdus, EXTNAME, COLUMNS, path)
        if catalogue is None:
            raise UserInputError(f"{path}: no {EXTNAME} table")
        return catalogue, _read_table(hdus, FRAMES_EXTNAME, FRAME_COLUMNS, path)

    catalogue, frames = read_fits(path, read)
    return (catalogue, frames) if with_frames else catalogue


def catalogue_header(path: str | Path):
    """The header of the 'CLUSTERS' table of a catalogue file (astropy `Header`); `UserInputError` when unreadable."""
    path = Path(path)

    def read(hdus):
        if EXTNAME not in hdus:
            raise UserInputError(f"{path}: no {EXTNAME} table")
        return hdus[EXTNAME].header.copy()

    return read_fits(path, read)
