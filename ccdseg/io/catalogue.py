"""Cluster catalogues on disk: the columns of a catalogue, FITS tables and ROOT files, read and written.

A catalogue is a dict of equally long 1-d arrays, one per column of
`COLUMNS`, in that order (`infer.catalogue.cluster_catalogue` builds one from
a frame and its class map).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import write_atomically


class Column(NamedTuple):
    """One catalogue column: its name, numpy dtype, FITS unit ('' for none) and meaning."""

    name: str
    dtype: str
    unit: str
    description: str


# %% The columns (the one place they are defined)
EXTNAME = "CLUSTERS"
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
    Column("charge_electrons", "float64", "electron", "charge_adu / gain; NaN when the gain is unknown"),
    Column("energy_kev", "float64", "keV", "charge_electrons x 3.75 eV; NaN when the gain is unknown"),
    Column("sigma_x", "float64", "pix", "charge-weighted standard deviation along x"),
    Column("sigma_y", "float64", "pix", "charge-weighted standard deviation along y"),
    Column("touches_glowing", "bool", "", "8-neighbourhood touches a glowing pixel"),
    Column("touches_hot_pixel", "bool", "", "8-neighbourhood touches a hot pixel"),
    Column("touches_masked", "bool", "", "cluster or its 8-neighbourhood holds a masked (NaN) pixel"),
    Column("touches_edge", "bool", "", "cluster lies on the border of the analysed region"),
)
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
_FITS_FORMATS = {"int64": "K", "float64": "D", "bool": "L"}



# %% Catalogues in memory
def empty_catalogue() -> dict[str, np.ndarray]:
    """A catalogue with every column of `COLUMNS` and no row."""
    return {c.name: np.zeros(0, dtype="<U1" if c.dtype == "str" else c.dtype) for c in COLUMNS}


def check_catalogue(catalogue: dict) -> int:
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
        check_catalogue(catalogue)
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

    check_catalogue(catalogue)
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

    check_catalogue(catalogue)
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
    check_catalogue(catalogue)
    return {name: catalogue[name] for name in COLUMN_NAMES}
