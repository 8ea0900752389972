"""Class maps out as FITS: one file per input file, with the same HDUs and EXTNAMEs, read back for resumed runs.

Each image HDU of the input that was segmented becomes a uint8 image of its
shape (a 3-D cube stays a cube of class maps) carrying the input header, the
class legend and provenance. The primary HDU is kept as in the input: its
header only when it holds no image (the experiments' readout configuration),
the class map of its image when that was segmented.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ccdseg.core.classes import CLASS_NAMES, get_percentages
from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import write_atomically
from ccdseg.io import fits as fits_io
from ccdseg.io.fits import FitsFrame, header_text, read_fits


# %% Headers
def _copied_header(source):
    """An astropy `Header` with `source`'s cards, structural keywords (BITPIX, NAXISn, BZERO, ...) left out."""
    from astropy.io import fits

    header = fits.Header()
    for card in source.cards:
        key = card.keyword
        if key in fits_io.STRUCTURAL_KEYWORDS or key.startswith(("NAXIS", "ZNAXIS", "ZTILE", "ZCMPTYPE", "ZBITPIX")):
            continue
        header.append(card, end=True)
    return header


def fit_comments(header) -> object:
    """`header` (astropy) with each one-line card's comment cut to the room its value leaves, in place.

    A string value of up to 68 characters fits one card, but with its
    comment it may not: astropy would then cut the comment itself and warn
    on the user's console. Long values (CONTINUE cards) and commentary cards are left as they are.
    """
    from astropy.io import fits

    for card in header.cards:
        if card.keyword in ("", "COMMENT", "HISTORY") or not card.comment:
            continue
        used = len(fits.Card(card.keyword, card.value).image.rstrip())
        if used <= fits.Card.length:
            header.comments[card.keyword] = card.comment[: max(fits.Card.length - used - 3, 0)]
    return header


def segmentation_header(frame: FitsFrame, class_map: np.ndarray, notes: dict | None = None):
    """Header of a class map: the input header, the class legend and provenance.

    Structural keywords (BITPIX, NAXISn, BZERO, BSCALE, BLANK, BUNIT,
    checksums) are left out, since the data are now uint8 class ids; `notes`
    maps keywords to (value, comment) pairs to add. class_map : (h, w) or
    (planes, h, w) uint8, the HDU's whole class map (percentages of the
    analysed region).
    """
    header = _copied_header(frame.header)
    for cid, name in enumerate(CLASS_NAMES):
        header[f"CLASS{cid}"] = (name, f"pixel value {cid} in this class map")
    r0, r1, c0, c1 = frame.region
    percentages = get_percentages(class_map[..., r0:r1, c0:c1])
    for cid, share in enumerate(percentages):
        header[f"SEGPCT{cid}"] = (round(float(share), 4), f"% of analysed pixels: {CLASS_NAMES[cid]}")
    header["SEGSRC"] = (header_text(frame.path.name)[-68:], "segmented file (non-ASCII escaped)")
    header["SEGHDU"] = (frame.hdu_index, f"its HDU ({header_text(frame.hdu_name)})")
    if frame.plane is not None and class_map.ndim == 2:
        header["SEGPLANE"] = (frame.plane, "its cube plane (0-based)")
    header["SEGREGN"] = (frame.region_text, "analysed region; outside it: class 0")
    header["SEGNMASK"] = (frame.n_masked, "masked px (NaN/inf/BLANK/beyond ADC): class 0")
    header["SEGNBAD"] = (frame.n_beyond_range, "of them beyond the ADC range (SEGADCLO..HI)")
    header["SEGADCLO"] = (float(frame.adc_range_adu[0]), "lowest value an ADC can give here, ADU")
    header["SEGADCHI"] = (float(frame.adc_range_adu[1]), header_text(f"highest, ADU: {frame.adc_range_adu[2]}")[:47])
    for key, (value, comment) in (notes or {}).items():
        header[key] = (value, comment)
    legend = ", ".join(f"{cid} {name}" for cid, name in enumerate(CLASS_NAMES))
    header.add_history(f"Class map of a U-Net (load_model.py): {legend}")
    return fit_comments(header)


def _pasted(frame: FitsFrame, classes: np.ndarray) -> np.ndarray:
    """The class map (h, w) uint8 of `frame`'s whole plane: `classes` in its region, class 0 outside."""
    classes = np.asarray(classes, dtype=np.uint8)
    if classes.shape != frame.data.shape:
        raise UserInputError(f"{frame.path}: class map {classes.shape} differs from the frame's {frame.data.shape}")
    class_map = np.zeros(frame.image_shape, dtype=np.uint8)
    r0, r1, c0, c1 = frame.region
    class_map[r0:r1, c0:c1] = classes
    return class_map


# %% One HDU, one file
def hdu_class_map(frames: list[FitsFrame], classes: list[np.ndarray], notes: list[dict], cube_planes: int | None):
    """(class map, header) of one input HDU from its segmented frames, for `write_class_map_file`.

    frames, classes, notes : each segmented plane of the HDU (one for a 2-D
    image), its (h, w) uint8 class ids of the analysed region and its header
    notes. cube_planes : the number of planes of a cube HDU whose planes
    were all asked for (the class map is then a cube, unsegmented planes
    class 0); None: one 2-D class map. The header is the first frame's, with
    one HISTORY line per plane when there are several.
    """
    maps = [_pasted(frame, cls) for frame, cls in zip(frames, classes)]
    if cube_planes is None:
        class_map = maps[0]
    else:
        class_map = np.zeros((cube_planes, *frames[0].image_shape), dtype=np.uint8)
        for frame, plane_map in zip(frames, maps):
            class_map[frame.plane] = plane_map
    header = segmentation_header(frames[0], class_map, notes[0])
    if len(frames) > 1:
        header["SEGNMASK"] = (sum(f.n_masked for f in frames), "masked px of all planes: class 0")
        header["SEGNBAD"] = (sum(f.n_beyond_range for f in frames), "of them beyond the ADC range")
        for frame, note in zip(frames, notes):
            told = ", ".join(f"{key}={value}" for key, (value, _) in note.items() if key in ("SEGMODEL", "SEGGAIN"))
            header.add_history(f"plane {frame.plane}: {frame.n_masked} masked px; {told}")
    return class_map, header


def write_class_map_file(path: str | Path, primary_header, images: list[tuple[int, str, np.ndarray, object]],
                         cards: dict | None = None, force: bool = False) -> Path:
    """Write one file's class maps as a FITS file with the input's HDUs and EXTNAMEs, atomically.

    primary_header : the input's primary header; images : (HDU index,
    EXTNAME, class map, header) per segmented HDU (`hdu_class_map`), in
    order; cards : (value, comment) by keyword for the primary header (the
    run's record, for resumed runs). The primary HDU holds the class map of
    the input's primary image when it was segmented (index 0), else the
    input's primary header alone. Every HDU has its checksum.
    """
    from astropy.io import fits

    primary = None
    hdus = []
    for index, name, class_map, header in images:
        if index == 0:
            primary = fits.PrimaryHDU(data=class_map, header=header)
        else:
            hdus.append(fits.ImageHDU(data=class_map, header=header, name=name or None))
    if primary is None:
        primary = fits.PrimaryHDU(header=_copied_header(primary_header))
    for key, card in (cards or {}).items():
        primary.header[key] = card
    hdul = fits.HDUList([primary, *hdus])
    return write_atomically(path, lambda tmp: hdul.writeto(tmp, output_verify="silentfix+ignore", checksum=True),
                            force)


def write_segmentation_fits(
    path: str | Path, frame: FitsFrame, classes: np.ndarray, notes: dict | None = None, force: bool = False
) -> Path:
    """Write the class map of one frame as a uint8 FITS image of the whole plane's shape, atomically.

    classes : (h, w) uint8 class ids of the analysed region (`frame.data`'s
        shape). Pixels outside the region are class 0 (background).
    """
    class_map, header = hdu_class_map([frame], [classes], [notes or {}], None)
    return write_class_map_file(path, frame.header, [(0, "", class_map, header)], force=force)


def layout_key(index: int, name: str) -> str:
    """How `read_class_map_layout` names the image of HDU `index`: its EXTNAME, 'HDU0' for the primary or when none."""
    return name if index and name else f"HDU{index}"


def read_class_map_layout(path: str | Path) -> tuple[object, dict[str, tuple[int, ...]]]:
    """(primary header, {`layout_key`: shape}) of the images of a class-map file.

    Read from the headers alone, fast enough for every file of a resumed
    campaign; a file shorter than its headers say (truncated) or unreadable
    raises `UserInputError`.
    """
    path = Path(path)

    def read(hdul):
        size, shapes = path.stat().st_size, {}
        for index, hdu in enumerate(hdul):
            info = hdu.fileinfo()
            if info is not None and info["datLoc"] + info["datSpan"] > size:
                raise UserInputError(f"{path}: truncated FITS file (HDU {index} ends past the end of the file)")
            if hdu.shape:
                shapes[layout_key(index, hdu.name)] = tuple(int(s) for s in hdu.shape)
        return hdul[0].header.copy(), shapes

    return read_fits(path, read)
