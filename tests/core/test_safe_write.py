"""Safe writing (ccdseg/core/safe_write.py): nothing overwritten without force or half-written; one run a folder."""
import os
import socket
import subprocess
import sys
import threading

import pytest

from ccdseg.core import safe_write
from ccdseg.core.errors import UserInputError


def test_refuse_existing_names_the_file_and_force_allows(tmp_path):
    target = tmp_path / "report.txt"
    safe_write.save_text(target, "one")
    with pytest.raises(UserInputError, match="report.txt: exists; use --force"):
        safe_write.save_text(target, "two")
    safe_write.save_text(target, "two", force=True)
    assert target.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["report.txt"]


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "map.fits"

    def write_half(tmp):
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        safe_write.write_atomically(target, write_half)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        safe_write.write_atomically(target, write_half, force=True)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


# %% Concurrent writers (issue 20, defect 6)
def test_writers_of_one_path_in_many_threads_never_collide_and_readers_see_whole_files(tmp_path):
    target = tmp_path / "map.fits"
    contents = [bytes([k]) * (200_000 + k) for k in range(8)]
    seen, errors = [], []

    def write(k):
        for _ in range(10):
            try:
                safe_write.write_atomically(target, lambda tmp: tmp.write_bytes(contents[k]), force=True)
            except UserInputError as exc:
                errors.append(str(exc))
            if target.exists():
                seen.append(target.read_bytes())

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and all(content in contents for content in seen)
    assert [p.name for p in tmp_path.iterdir()] == ["map.fits"]


def test_temporary_names_are_hidden_unique_and_keep_the_suffix(tmp_path):
    names = {safe_write.temporary_name(tmp_path / "run1_segmentation.fits").name for _ in range(100)}
    assert len(names) == 100 and all(n.startswith(".run1_segmentation.") and n.endswith(".partial.fits") for n in names)


def test_a_second_run_on_a_folder_is_refused_naming_the_first(tmp_path):
    folder = tmp_path / "out"
    with safe_write.folder_lock(folder) as lock:
        assert lock.is_file() and lock.parent == folder
        with pytest.raises(UserInputError, match=rf"another run \(process {os.getpid()} on "):
            with safe_write.folder_lock(folder):
                pass
        assert lock.is_file()
    assert not lock.exists()


def test_a_lock_left_by_a_process_that_is_gone_is_taken_over(tmp_path):
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(child.stdout)
    (tmp_path / safe_write.LOCK_NAME).write_text(f"{socket.gethostname()}\n{gone}\n2026-01-01 00:00:00\nkilled run\n")
    with safe_write.folder_lock(tmp_path):
        assert str(os.getpid()) in (tmp_path / safe_write.LOCK_NAME).read_text()
    assert list(tmp_path.iterdir()) == []


def test_the_lock_is_released_after_an_interruption(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with safe_write.folder_lock(tmp_path):
            raise KeyboardInterrupt
    with safe_write.folder_lock(tmp_path):
        pass
