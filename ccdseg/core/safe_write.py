"""Writing outputs safely: never overwrite without `force`, never leave a half-written file.

Every file a script writes goes through `write_atomically`: the content is
written to a hidden temporary file in the same folder, then renamed into
place, so an interrupted run leaves either the old file or the new one.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ccdseg.core.errors import UserInputError


# %% Functions
def refuse_existing(paths: Iterable[str | Path], force: bool, hint: str = "") -> None:
    """Raise `UserInputError` naming the first of `paths` that exists, unless `force`."""
    if force:
        return
    for path in paths:
        if Path(path).exists():
            raise UserInputError(f"{path}: exists; use --force to overwrite{hint}")


def write_atomically(path: str | Path, write: Callable[[Path], None], force: bool = False) -> Path:
    """Write a file through a temporary file in the same folder, then rename it into place.

    `write(tmp)` must create the file `tmp` (it keeps `path`'s suffix, so
    writers that choose the format by suffix work). An interrupted run leaves
    no half-written `path`; an existing `path` is replaced only with `force`.
    """
    path = Path(path)
    refuse_existing([path], force)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_array(path: str | Path, array: np.ndarray, force: bool = False) -> Path:
    """Save one array as .npy, atomically; refuse to replace a file unless `force`."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array)

    return write_atomically(path, write, force)


def save_text(path: str | Path, text: str, force: bool = False) -> Path:
    """Write a text file atomically; refuse to replace a file unless `force`."""
    return write_atomically(path, lambda tmp: tmp.write_text(text), force)
