"""FITS pixel values in physical ADU: BZERO, BSCALE and BLANK applied, and the range an ADC can give.

A value no ADC can give (beyond the range the header states, or a cut the
user sets) is no measurement: it is masked as NaN and BLANK pixels are, and
counted, so that it never changes the classes of its neighbours.
"""
from __future__ import annotations

import numpy as np

from ccdseg.core.errors import UserInputError

# %% Defaults
ADC_LIMIT_ADU = 2.0**32  # |value| beyond this is no reading of a CCD's ADC (32 bits at most), when nothing else says


# %% Functions
def adc_range(header, max_adu: float | None = None) -> tuple[float, float, str]:
    """(lowest, highest) value ADU a pixel of this HDU can hold, and where the range comes from.

    DATAMIN and DATAMAX (the valid range, FITS standard), SATURATE (the
    highest reading) and `max_adu` (the user's `--max-adu`) narrow the range
    of any ADC, +-`ADC_LIMIT_ADU` (read when called); integer data cannot leave their BITPIX's
    range anyway. A keyword that is no number raises `UserInputError`.
    """
    low, high, sources = -ADC_LIMIT_ADU, ADC_LIMIT_ADU, []
    for keyword, side in (("DATAMIN", "low"), ("DATAMAX", "high"), ("SATURATE", "high"), ("--max-adu", "high")):
        value = max_adu if keyword == "--max-adu" else header.get(keyword)
        if value is None:
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise UserInputError(f"header {keyword} = {value!r} is not a number") from None
        if side == "low" and value > low:
            low, sources = value, sources + [keyword]
        elif side == "high" and value < high:
            high, sources = value, sources + [keyword]
    return low, high, ", ".join(sources) or "+-2^32 ADU: no ADC gives more"


def to_adu(raw: np.ndarray, header, limits: tuple[float, float, str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Raw stored values -> (float32 ADU with NaN where masked, mask, pixels beyond `limits`).

    BZERO, BSCALE and BLANK are applied; NaN, inf, BLANK and values outside
    `limits` (`adc_range`) are masked.
    """
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
    with np.errstate(invalid="ignore"):
        beyond = ~masked & ((data < limits[0]) | (data > limits[1]))
    masked |= beyond
    data[masked] = np.nan
    return data, masked, int(np.count_nonzero(beyond))
