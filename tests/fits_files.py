"""FITS files for tests: small frames, and files broken in each way a user's file can be."""
import numpy as np
from astropy.io import fits

BAD_KINDS = ("truncated", "corrupt", "no_image", "all_nan", "too_small", "missing", "folder")


def frame(shape, seed=0):
    """A frame (h, w) float32 of pedestal 8800 ADU and noise 19 ADU."""
    return np.random.default_rng(seed).normal(8800.0, 19.0, shape).astype(np.float32)


def write_bad_file(tmp_path, kind):
    """Make `tmp_path/KIND.fits` broken in the way `kind` (one of `BAD_KINDS`) says; return its path."""
    path = tmp_path / f"{kind}.fits"
    good = tmp_path / "good_source.fits"
    fits.PrimaryHDU(frame((64, 64))).writeto(good, overwrite=True)
    if kind == "truncated":
        path.write_bytes(good.read_bytes()[: 2880 + 5000])
    elif kind == "corrupt":
        path.write_bytes(b"this is not a FITS file " * 200)
    elif kind == "no_image":
        table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.arange(3.0))])
        fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    elif kind == "all_nan":
        fits.PrimaryHDU(np.full((64, 64), np.nan, np.float32)).writeto(path)
    elif kind == "too_small":
        fits.PrimaryHDU(frame((8, 300))).writeto(path)
    elif kind == "folder":
        path.mkdir()
    good.unlink()
    return path
