"""Atomic writes (safe_write.py): figures and files interrupted half-way leave nothing behind."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.plots import labels
from ccdseg.core import safe_write


def test_interrupted_figure_leaves_no_png(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((4, 4)))

    def half_then_interrupt(path, **kwargs):
        open(path, "wb").write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(fig, "savefig", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        labels.finish_figure(fig, tmp_path / "prediction_0004.png", show=False)
    assert list(tmp_path.iterdir()) == []


def test_refuse_existing_names_the_file_and_force_allows(tmp_path):
    target = tmp_path / "report.txt"
    safe_write.save_text(target, "one")
    with pytest.raises(UserInputError, match="report.txt: exists; use --force"):
        safe_write.save_text(target, "two")
    safe_write.save_text(target, "two", force=True)
    assert target.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["report.txt"]
