"""Frames and class maps drawn (ccdseg/plots/labels.py): the image | label | prediction figure and its helpers."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from ccdseg.core import classes
from ccdseg.plots import labels


def test_visualize_label_writes_png(tmp_path):
    image = np.random.default_rng(0).normal(0, 1, (32, 32))
    ids = np.zeros((32, 32), np.uint8)
    ids[3:9, 3:9] = 3
    path = tmp_path / "figure.png"
    labels.visualize_label(image, ids, classes.to_one_hot(ids), path=path, title="t")
    assert path.stat().st_size > 1000


def test_one_object_labels_colour_only_that_class():
    ids = np.array([[0, 1], [2, 3]], np.uint8)
    only = labels.mask_to_label_one_object(ids, "hot pixel")
    assert np.allclose(only[1, 0], (0.0, 0.5, 1.0)) and np.allclose(only[1, 1], 0)


def test_display_reduction_keeps_small_objects_and_priority():
    ids = np.zeros((8, 8), np.uint8)
    ids[0, 0] = classes.CLUSTER
    ids[0, 1] = classes.HOT_PIXEL
    ids[5, 5] = classes.GLOWING
    ids[6, 6] = classes.CLUSTER
    reduced = labels.reduce_for_display(ids, 4, labels=True)
    assert reduced.tolist() == [[classes.HOT_PIXEL, 0], [0, classes.CLUSTER]]
    image = np.zeros((5, 5), np.float32)
    image[4, 4] = 9.0
    assert labels.reduce_for_display(image, 2, labels=False).shape == (3, 3)
    assert labels.reduce_for_display(image, 2, labels=False)[2, 2] == 9.0


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


def test_masked_pixels_are_drawn_at_the_median():
    image = np.array([[1.0, np.nan], [np.inf, 3.0]], np.float32)
    filled = labels.fill_masked(image)
    assert filled.tolist() == [[1.0, 2.0], [2.0, 3.0]] and np.isnan(image[0, 1])


@pytest.mark.parametrize("column", [49, 368, 639])
def test_a_one_pixel_hot_column_of_a_wide_frame_is_drawn(tmp_path, column):
    ids = np.zeros((320, 640), np.uint8)
    ids[:, column] = classes.HOT_PIXEL
    path = tmp_path / "figure.png"
    labels.visualize_label(np.zeros(ids.shape), ids, path=path, show=False)
    drawn = plt.imread(path)[..., :3]
    blue = np.all(np.abs(drawn - classes.CLASS_COLOURS[classes.HOT_PIXEL]) < 0.4, axis=-1)  # blended at the edge
    assert np.count_nonzero(blue.any(axis=1)) > 100  # the column, drawn over most of the panel's height
