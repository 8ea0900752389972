"""The cluster catalogue of a frame (ccdseg/infer/catalogue.py): hand-computed values, flags, many clusters, shapes."""
import math

import numpy as np
import pytest
from scipy import ndimage

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.infer.catalogue import cluster_catalogue
from ccdseg.io.catalogue import COLUMN_NAMES
from tests.catalogue_frames import PEDESTAL_ADU, two_cluster_frame


def test_block_and_single_pixel_match_hand_computed_values():
    image, class_map = two_cluster_frame()
    cat = cluster_catalogue(image, class_map, frame_name="hand", pedestal_adu=PEDESTAL_ADU)
    assert list(cat) == list(COLUMN_NAMES)
    # raster order of first pixel: the single pixel (row 0) comes first
    assert cat["cluster_id"].tolist() == [1, 2]
    assert cat["frame"].tolist() == ["hand", "hand"]
    single, block = 0, 1
    # block: column sums 4, 14, 6 (x 100 ADU) at x = 8, 9, 10; row sums 4, 16, 4 at y = 5, 6, 7
    x_mean = (8 * 4 + 9 * 14 + 10 * 6) / 24
    x_var = (4 * (8 - x_mean) ** 2 + 14 * (9 - x_mean) ** 2 + 6 * (10 - x_mean) ** 2) / 24
    assert cat["x"][block] == pytest.approx(x_mean)
    assert cat["y"][block] == pytest.approx(6.0)
    assert cat["sigma_x"][block] == pytest.approx(math.sqrt(x_var))
    assert cat["sigma_y"][block] == pytest.approx(math.sqrt(8 / 24))
    assert (cat["x_min"][block], cat["x_max"][block], cat["y_min"][block], cat["y_max"][block]) == (8, 10, 5, 7)
    assert cat["n_pixels"][block] == 9
    assert cat["charge_adu"][block] == pytest.approx(2400.0)
    assert cat["peak_adu"][block] == pytest.approx(1000.0)
    assert not cat["touches_edge"][block]
    # single pixel on the top border
    assert (cat["x"][single], cat["y"][single]) == (15.0, 0.0)
    assert (cat["x_min"][single], cat["x_max"][single], cat["y_min"][single], cat["y_max"][single]) == (15, 15, 0, 0)
    assert cat["n_pixels"][single] == 1
    assert cat["charge_adu"][single] == pytest.approx(500.0)
    assert cat["peak_adu"][single] == pytest.approx(500.0)
    assert cat["sigma_x"][single] == 0.0 and cat["sigma_y"][single] == 0.0
    assert cat["touches_edge"][single]
    for flag in ("touches_glowing", "touches_hot_pixel", "touches_masked"):
        assert not cat[flag].any()


def test_estimated_pedestal_gives_the_same_charge_with_tiny_noise():
    image, class_map = two_cluster_frame(noise_adu=0.5)
    cat = cluster_catalogue(image, class_map)
    assert cat["charge_adu"] == pytest.approx([500.0, 2400.0], abs=5.0)
    assert cat["x"][1] == pytest.approx((8 * 4 + 9 * 14 + 10 * 6) / 24, abs=0.01)


def test_origin_shifts_coordinates_only():
    image, class_map = two_cluster_frame()
    plain = cluster_catalogue(image, class_map, pedestal_adu=PEDESTAL_ADU)
    shifted = cluster_catalogue(image, class_map, origin=(100, 2000), pedestal_adu=PEDESTAL_ADU)
    for name in ("x", "x_min", "x_max"):
        np.testing.assert_array_equal(shifted[name], plain[name] + 2000)
    for name in ("y", "y_min", "y_max"):
        np.testing.assert_array_equal(shifted[name], plain[name] + 100)
    for name in ("n_pixels", "charge_adu", "sigma_x", "sigma_y", "touches_edge"):
        np.testing.assert_array_equal(shifted[name], plain[name])


def test_flags_say_what_the_eight_neighbourhood_touches():
    image = np.full((16, 16), PEDESTAL_ADU, dtype=np.float32)
    class_map = np.full((16, 16), BACKGROUND, dtype=np.uint8)
    spots = {"glow": (3, 3), "hot": (3, 9), "nan": (9, 3), "inside_nan": (9, 9), "far": (13, 13)}
    for row, col in spots.values():
        class_map[row, col] = CLUSTER
        class_map[row, col + 1] = CLUSTER
        image[row, col : col + 2] += 300.0
    class_map[:, 0] = GLOWING  # two columns from the "glow" and "nan" clusters: not touching
    class_map[2:5, 5] = GLOWING  # right beside the "glow" cluster (cols 3-4)
    class_map[4, 11] = HOT_PIXEL  # diagonal of the "hot" cluster (cols 9-10)
    class_map[11, 15] = HOT_PIXEL  # two rows below the "far" cluster: not touching
    image[10, 2] = np.nan  # diagonal of the "nan" cluster (cols 3-4)
    image[9, 10] = np.nan  # a pixel of the "inside_nan" cluster itself
    cat = cluster_catalogue(image, class_map, pedestal_adu=PEDESTAL_ADU)
    row_of = {(int(y), int(x)): i for i, (y, x) in enumerate(zip(cat["y_min"], cat["x_min"]))}
    got = {name: {f: bool(cat[f][row_of[spot]]) for f in ("touches_glowing", "touches_hot_pixel", "touches_masked")}
           for name, spot in spots.items()}
    assert got["glow"] == {"touches_glowing": True, "touches_hot_pixel": False, "touches_masked": False}
    assert got["hot"] == {"touches_glowing": False, "touches_hot_pixel": True, "touches_masked": False}
    assert got["nan"] == {"touches_glowing": False, "touches_hot_pixel": False, "touches_masked": True}
    assert got["inside_nan"] == {"touches_glowing": False, "touches_hot_pixel": False, "touches_masked": True}
    assert got["far"] == {"touches_glowing": False, "touches_hot_pixel": False, "touches_masked": False}
    inside = row_of[spots["inside_nan"]]
    assert cat["charge_adu"][inside] == pytest.approx(300.0)  # the masked pixel counts as 0
    assert cat["peak_adu"][inside] == pytest.approx(300.0)
    assert not cat["touches_edge"].any()


def test_many_clusters_match_a_per_cluster_reference():
    rng = np.random.default_rng(3)
    image = (50.0 + rng.normal(0, 20, (60, 70))).astype(np.float32)
    class_map = np.where(rng.random((60, 70)) < 0.2, CLUSTER, BACKGROUND).astype(np.uint8)
    cat = cluster_catalogue(image, class_map, pedestal_adu=50.0)
    labels, n = ndimage.label(class_map == CLUSTER, structure=np.ones((3, 3)))
    assert len(cat["x"]) == n > 50
    for i in range(n):  # the slow, obvious computation, for comparison
        rows, cols = np.nonzero(labels == i + 1)
        charge = image[rows, cols].astype(np.float64) - 50.0
        w = np.clip(charge, 0, None)
        if w.sum() == 0:
            w = np.ones_like(w)
        assert cat["charge_adu"][i] == pytest.approx(charge.sum())
        assert cat["peak_adu"][i] == pytest.approx(charge.max())
        assert cat["n_pixels"][i] == rows.size
        assert (cat["x_min"][i], cat["x_max"][i], cat["y_min"][i], cat["y_max"][i]) == (
            cols.min(), cols.max(), rows.min(), rows.max())
        assert cat["x"][i] == pytest.approx(np.average(cols, weights=w))
        assert cat["y"][i] == pytest.approx(np.average(rows, weights=w))
        assert cat["sigma_x"][i] == pytest.approx(np.sqrt(np.cov(cols, aweights=w, bias=True)), abs=1e-9)
        assert cat["sigma_y"][i] == pytest.approx(np.sqrt(np.cov(rows, aweights=w, bias=True)), abs=1e-9)


def test_no_cluster_gives_every_column_empty():
    image = np.full((8, 8), PEDESTAL_ADU, dtype=np.float32)
    cat = cluster_catalogue(image, np.zeros((8, 8), dtype=np.uint8), frame_name="empty")
    assert list(cat) == list(COLUMN_NAMES)
    assert all(len(values) == 0 for values in cat.values())
    assert cat["touches_edge"].dtype == bool and cat["charge_adu"].dtype == np.float64


def test_wrong_shapes_are_user_errors():
    with pytest.raises(UserInputError, match="differs"):
        cluster_catalogue(np.zeros((8, 8)), np.zeros((8, 9), dtype=np.uint8))
    with pytest.raises(UserInputError, match="one frame"):
        cluster_catalogue(np.zeros((2, 8, 8)), np.zeros((2, 8, 8), dtype=np.uint8))
