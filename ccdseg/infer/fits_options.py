"""The options of a FITS run, checked before any work: each mistake in one line, before the model loads.

`load_model.py --fits` calls `check_fits_options` first; only then does it
plan the run (`run_plan.py`, which checks HDUs, planes, regions and gains
from the headers) and load the models, so that no mistake costs a model
load or leaves an empty output folder behind.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from ccdseg.core import paths
from ccdseg.core.classes import class_id
from ccdseg.core.errors import UserInputError
from ccdseg.infer import model_choice
from ccdseg.infer.campaign import check_scheduler_address
from ccdseg.infer.tiling import plan_sections
from ccdseg.model.card import read_card


# %% Functions
def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_workers(workers: int | None, scheduler: str | None) -> None:
    """Refuse local workers below 1 or above the cores, and local workers together with a scheduler."""
    if scheduler is not None:
        check_scheduler_address(scheduler)
        if workers is not None:
            raise UserInputError("--workers starts local processes, --scheduler uses the workers of a running Dask"
                                 " cluster: give one or the other (start more workers on the cluster to go faster)")
        return
    if workers is not None and workers < 1:
        raise UserInputError(f"--workers must be at least 1, not {workers}")
    if workers is not None and workers > available_cores():
        raise UserInputError(f"--workers {workers}: this machine has {available_cores()} cores; more local workers"
                             " than cores only slow each other down (use --scheduler for a cluster of machines)")


def model_files(model: Path | None) -> list[Path]:
    """The model files a run loads (`ModelChoice.load`): the one given, or the shipped ones; each must exist."""
    files = [Path(model)] if model is not None else [paths.DEFAULT_MODEL]
    if model is None and model_choice.skipper_model_path().is_file():
        files.append(model_choice.skipper_model_path())
    for file in files:
        if not file.is_file():
            raise UserInputError(f"{file}: no such model file")
        if file.suffix != ".keras":
            raise UserInputError(f"{file}: not a .keras model file")
    return files


def check_tiles(tile_px: int, margin_px: int, files: list[Path]) -> None:
    """Refuse a tile and margin that a model cannot take (the card's depth), before it is loaded."""
    for file in files:
        depth = read_card(file).get("depth")
        if depth is not None:
            plan_sections((tile_px, tile_px), tile_px, margin_px, 2 ** int(depth))


def check_fits_options(*, find=None, gain=None, max_adu=None, workers=None, scheduler=None, tile_px=256,
                       margin_px=32, model=None) -> None:
    """Check every option of a FITS run that needs no input file; raise `UserInputError` naming the first bad one."""
    if find is not None:
        class_id(find)
    if gain is not None and not (math.isfinite(gain) and gain > 0):
        raise UserInputError(f"--gain must be a positive number of ADU per electron, not {gain}")
    if max_adu is not None and not math.isfinite(max_adu):
        raise UserInputError(f"--max-adu must be a number of ADU, not {max_adu}")
    check_workers(workers, scheduler)
    check_tiles(tile_px, margin_px, model_files(model))
