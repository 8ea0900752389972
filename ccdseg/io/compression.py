"""How a tile-compressed FITS file (`.fz`) stores an image: fpack's defaults, and the values a reader gets back.

fpack and cfitsio store float data as integers, each tile (by default one
row) rounded to a step of its own: a quarter of the noise cfitsio estimates
for that row (`-q 4`), with subtractive dither, so that the values come
back spread within their step. Without dither (astropy's default) every
value of a row comes back on that row's grid
(`measure.quantisation` finds and spreads such grids).
"""
from __future__ import annotations

import io

import numpy as np

# %% Conventions
FPACK_QUANTIZE_LEVEL = 4.0  # fpack's default: float data stored with a step of a quarter of each row's noise
SUBTRACTIVE_DITHER_1 = 1  # fpack's default quantisation method (cfitsio's code)
NO_DITHER = -1  # astropy's default: every value of a row on that row's grid
FPACK_DITHER_SEED = 1  # a fixed dither seed (1 to 10000): the same data always make the same file


# %% Functions
def compressed_hdu(data: np.ndarray, dither: bool = True, quantize_level: float | None = None, **keywords):
    """A tile-compressed image HDU (RICE) of `data`: integers lossless, float data quantised as fpack does.

    dither : subtractive dither (fpack's default), from `FPACK_DITHER_SEED`,
    or none; quantize_level : None for fpack's (`FPACK_QUANTIZE_LEVEL`).
    keywords : astropy's (`header`, `name`).
    """
    from astropy.io import fits

    level = FPACK_QUANTIZE_LEVEL if quantize_level is None else quantize_level
    return fits.CompImageHDU(data=np.ascontiguousarray(data), quantize_level=level,
                             quantize_method=SUBTRACTIVE_DITHER_1 if dither else NO_DITHER,
                             dither_seed=FPACK_DITHER_SEED, **keywords)


def stored_values(image: np.ndarray, dither: bool = True, quantize_level: float | None = None) -> np.ndarray:
    """`image` (h, w) as a tile-compressed HDU stores it (`compressed_hdu`), read back: float32."""
    from astropy.io import fits

    buffer = io.BytesIO()
    hdu = compressed_hdu(np.asarray(image, dtype=np.float32), dither, quantize_level)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
    buffer.seek(0)
    with fits.open(buffer) as hdul:
        return np.asarray(hdul[1].data, dtype=np.float32)
