"""Writing outputs safely: never overwrite without `force`, never leave a half-written file, one run per folder.

Every file a script writes goes through `write_atomically`: the content is
written to a hidden temporary file of a unique name in the same folder, then
renamed into place, so an interrupted run leaves either the old file or the
new one, and two processes writing the same file never share a temporary
file. A run that writes many files into one folder holds its lock
(`folder_lock`), so that a second run on that folder is refused in one line
naming the first.
"""
from __future__ import annotations

import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ccdseg.core.errors import UserInputError

# %% Conventions
LOCK_NAME = ".ccdseg-run.lock"  # the lock file of an output folder (hidden: never taken as an input)


# %% Functions
def refuse_existing(paths: Iterable[str | Path], force: bool, hint: str = "") -> None:
    """Raise `UserInputError` naming the first of `paths` that exists, unless `force`."""
    if force:
        return
    for path in paths:
        if Path(path).exists():
            raise UserInputError(f"{path}: exists; use --force to overwrite{hint}")


def temporary_name(path: Path) -> Path:
    """A hidden name in `path`'s folder that no other process or thread uses: `.STEM.PID-RANDOM.partial.SUFFIX`.

    It keeps `path`'s suffix, so writers that choose the format by suffix work.
    """
    return path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.partial{path.suffix}")


def write_atomically(path: str | Path, write: Callable[[Path], None], force: bool = False) -> Path:
    """Write a file through a temporary file in the same folder, then rename it into place.

    `write(tmp)` must create the file `tmp` (`temporary_name`: unique, so
    that writers of the same `path` in several processes never collide; the
    last rename wins, and a reader sees a whole file or none). An interrupted
    run leaves no half-written `path`; an existing `path` is replaced only
    with `force`.
    """
    path = Path(path)
    refuse_existing([path], force)
    tmp = temporary_name(path)
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


# %% One run per output folder
def _process_alive(pid: int) -> bool:
    """Whether process `pid` of this machine exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(lock: Path) -> tuple[str, int, str]:
    """(host, process id, what it runs) written in a lock file; ('', 0, '') when unreadable."""
    try:
        host, pid, started, command = (lock.read_text().split("\n") + ["", "", "", ""])[:4]
        return host, int(pid), f"started {started}, {command}".strip(", ")
    except (OSError, ValueError):
        return "", 0, ""


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold `folder/LOCK_NAME` while a run writes into `folder` (made if needed); yield the lock file.

    The lock file names this machine, this process and its command. Another
    run holding it raises `UserInputError` naming that run's process; a lock
    left by a process of this machine that no longer exists is taken over.
    The lock file is removed on leaving, even after an error or Ctrl-C.
    """
    folder = Path(folder)
    lock = folder / LOCK_NAME
    text = "\n".join([socket.gethostname(), str(os.getpid()), time.strftime("%Y-%m-%d %H:%M:%S"),
                      " ".join(sys.argv)[:300]]) + "\n"
    for _ in range(3):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            host, pid, what = _holder(lock)
            if host == socket.gethostname() and pid and not _process_alive(pid):
                lock.unlink(missing_ok=True)  # left by a run that was killed: take it over
                continue
            where = f"process {pid} on {host}" if pid else "a process whose lock file cannot be read"
            raise UserInputError(f"{folder}: another run ({where}{'; ' + what if what else ''}) is writing into this"
                                 f" folder; wait for it to end, or choose another --output (remove {lock} only if"
                                 " that run is gone)") from None
        except OSError as exc:
            raise UserInputError(f"{folder}: cannot lock the output folder ({exc.strerror or exc})") from None
        with os.fdopen(handle, "w") as written:
            written.write(text)
        break
    else:
        raise UserInputError(f"{folder}: cannot lock the output folder ({lock} keeps coming back)")
    try:
        yield lock
    finally:
        if _holder(lock)[:2] == (socket.gethostname(), os.getpid()):
            lock.unlink(missing_ok=True)
