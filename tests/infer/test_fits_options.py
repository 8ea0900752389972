"""The options of a FITS run, checked before any work (ccdseg/infer/fits_options.py): workers, scheduler, tiles."""
import json

import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.infer import fits_options


def test_local_workers_are_at_most_the_cores(monkeypatch):
    monkeypatch.setattr(fits_options, "available_cores", lambda: 4)
    fits_options.check_workers(4, None)
    fits_options.check_workers(None, None)
    with pytest.raises(UserInputError, match="--workers 1000: this machine has 4 cores"):
        fits_options.check_workers(1000, None)
    with pytest.raises(UserInputError, match="--workers must be at least 1"):
        fits_options.check_workers(0, None)


def test_a_scheduler_takes_no_local_workers_and_a_readable_address():
    fits_options.check_workers(None, "tcp://10.0.0.1:8786")
    fits_options.check_workers(None, "node7:8786")
    with pytest.raises(UserInputError, match="give one or the other"):
        fits_options.check_workers(2, "tcp://10.0.0.1:8786")
    for bad in ("notanaddress", "tcp://host", "http://host:8786/x", "host:port"):
        with pytest.raises(UserInputError, match="is not the address of a Dask scheduler"):
            fits_options.check_workers(None, bad)


def test_tiles_are_checked_against_the_model_card_before_it_loads(tmp_path):
    model = tmp_path / "m.keras"
    model.write_bytes(b"not loaded by this check")
    (tmp_path / "m.json").write_text(json.dumps({"depth": 3}))
    fits_options.check_fits_options(tile_px=64, margin_px=8, model=model)
    with pytest.raises(UserInputError, match="multiple of 8"):
        fits_options.check_fits_options(tile_px=60, margin_px=8, model=model)
    with pytest.raises(UserInputError, match="no such model file"):
        fits_options.check_fits_options(model=tmp_path / "absent.keras")
    for bad, message in (({"gain": 0.0}, "--gain must be a positive"), ({"gain": float("nan")}, "--gain"),
                         ({"max_adu": float("inf")}, "--max-adu"), ({"find": "dragon"}, "dragon")):
        with pytest.raises(UserInputError, match=message):
            fits_options.check_fits_options(model=model, **bad)
