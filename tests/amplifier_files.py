"""Multi-extension FITS files for tests, as the experiments write them: a header-only primary, an image an amplifier."""
import numpy as np
from astropy.io import fits

from tests.simulated_frames import simulated

AMPLIFIERS = ("CCD_A", "CCD_B", "CCD_D", "CCD_C")  # the order of a DAMIC-M file


def write_amplifier_file(path, shape=(64, 96), names=AMPLIFIERS, seed=0, compress=True, cards=None, table=False):
    """Write `path`: a primary HDU holding only a header (NROW, NCOL) and one simulated image HDU per name.

    shape : one (h, w) for every amplifier, or one per name; cards : {EXTNAME: {keyword: value}} per amplifier;
    table : also a table HDU at the end (no image). Returns `path`.
    """
    shapes = [shape] * len(names) if np.ndim(shape[0]) == 0 else list(shape)
    primary = fits.PrimaryHDU()
    primary.header["NROW"], primary.header["NCOL"] = shapes[0]
    kind = fits.CompImageHDU if compress else fits.ImageHDU
    hdus = [primary]
    for number, (name, size) in enumerate(zip(names, shapes)):
        hdu = kind(simulated(size, seed + number), name=name)
        for keyword, value in (cards or {}).get(name, {}).items():
            hdu.header[keyword] = value
        hdus.append(hdu)
    if table:
        hdus.append(fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.arange(3.0))],
                                                  name="EVENTS"))
    fits.HDUList(hdus).writeto(path)
    return path
