"""Safe writing (ccdseg/core/safe_write.py): nothing overwritten without force, nothing left half-written."""
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
