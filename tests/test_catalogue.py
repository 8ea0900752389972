"""Tests of catalogue.py: the cluster catalogue, its FITS table, its summary figure, its charge error."""
import math

import numpy as np
import pytest

from ccdseg.evaluate.cluster_metrics import charge_error
from ccdseg.infer.catalogue import cluster_catalogue
from ccdseg.io.catalogue import COLUMNS, COLUMN_NAMES, concatenate, read_catalogue_fits, write_catalogue_fits, write_catalogue_root
from ccdseg.plots.results import plot_summary
from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.simulate.frame import simulate_frame

PEDESTAL_ADU = 1000.0
BLOCK_ADU = 100.0 * np.array([[1, 2, 1], [2, 10, 4], [1, 2, 1]], dtype=np.float64)


def two_cluster_frame(noise_adu: float = 0.0):
    """20 x 30 frame: a 3x3 block at rows 5-7, cols 8-10, and one 500 ADU pixel at row 0, col 15."""
    rng = np.random.default_rng(0)
    image = PEDESTAL_ADU + rng.normal(0.0, noise_adu, (20, 30)) if noise_adu else np.full((20, 30), PEDESTAL_ADU)
    class_map = np.full((20, 30), BACKGROUND, dtype=np.uint8)
    image[5:8, 8:11] += BLOCK_ADU
    class_map[5:8, 8:11] = CLUSTER
    image[0, 15] += 500.0
    class_map[0, 15] = CLUSTER
    return image.astype(np.float32), class_map


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
    from scipy import ndimage

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


def test_concatenate_keeps_frames_apart():
    image, class_map = two_cluster_frame()
    first = cluster_catalogue(image, class_map, frame_name="a", pedestal_adu=PEDESTAL_ADU)
    second = cluster_catalogue(image[:, :12], class_map[:, :12], frame_name="frame_b", pedestal_adu=PEDESTAL_ADU)
    run = concatenate([first, second])
    assert run["frame"].tolist() == ["a", "a", "frame_b"]
    assert run["cluster_id"].tolist() == [1, 2, 1]
    assert set(run) == set(COLUMN_NAMES)
    assert all(len(concatenate([])[name]) == 0 for name in COLUMN_NAMES)
    with pytest.raises(UserInputError, match="lacks"):
        concatenate([first, {"x": np.zeros(1)}])


def test_fits_round_trip_keeps_values_units_and_descriptions(tmp_path):
    from astropy.io import fits

    frame = simulate_frame(np.random.default_rng(1), shape=(96, 96))
    cat = cluster_catalogue(frame.image, frame.truth, frame_name="run7_frame12.fits", origin=(40, 500))
    assert len(cat["x"]) > 0
    path = write_catalogue_fits(tmp_path / "clusters.fits", cat, header_cards={"RUNID": (7, "run number")})
    back = read_catalogue_fits(path)
    assert list(back) == list(COLUMN_NAMES)
    for name in COLUMN_NAMES:
        np.testing.assert_array_equal(back[name], cat[name], err_msg=name)
        assert back[name].dtype.kind == cat[name].dtype.kind, name
    with fits.open(path) as hdus:
        header = hdus["CLUSTERS"].header
        assert header["RUNID"] == 7
        for number, column in enumerate(COLUMNS, start=1):
            assert header[f"TTYPE{number}"] == column.name
            assert header.get(f"TUNIT{number}", "") == column.unit
            assert header[f"TCOMM{number}"] == column.description


def test_empty_catalogue_round_trips(tmp_path):
    cat = cluster_catalogue(np.zeros((4, 4), dtype=np.float32), np.zeros((4, 4), dtype=np.uint8))
    back = read_catalogue_fits(write_catalogue_fits(tmp_path / "none.fits", cat))
    assert list(back) == list(COLUMN_NAMES) and all(len(v) == 0 for v in back.values())


def test_writing_twice_needs_force(tmp_path):
    image, class_map = two_cluster_frame()
    cat = cluster_catalogue(image, class_map, pedestal_adu=PEDESTAL_ADU)
    path = tmp_path / "clusters.fits"
    write_catalogue_fits(path, cat)
    with pytest.raises(UserInputError, match="exists"):
        write_catalogue_fits(path, cat)
    cat["charge_adu"] = cat["charge_adu"] * 2
    write_catalogue_fits(path, cat, force=True)
    assert read_catalogue_fits(path)["charge_adu"] == pytest.approx([1000.0, 4800.0])


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    from astropy.io import fits

    def fail_halfway(self, name, *args, **kwargs):
        with open(name, "wb") as handle:
            handle.write(b"SIMPLE  =                    T")
        raise OSError("disk full")

    monkeypatch.setattr(fits.HDUList, "writeto", fail_halfway)
    image, class_map = two_cluster_frame()
    cat = cluster_catalogue(image, class_map, pedestal_adu=PEDESTAL_ADU)
    with pytest.raises(UserInputError, match="cannot write"):
        write_catalogue_fits(tmp_path / "clusters.fits", cat)
    assert list(tmp_path.iterdir()) == []


def test_reading_a_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="no such file"):
        read_catalogue_fits(tmp_path / "absent.fits")


def test_charge_error_on_simulated_frames_with_truth_as_prediction():
    deposited, relative = [], []
    for seed in range(6):
        frame = simulate_frame(np.random.default_rng(seed), shape=(256, 256))
        cat = cluster_catalogue(frame.image, frame.truth, frame_name=f"sim{seed}")
        d, r = charge_error(cat, frame.truth, frame.cluster_adu, frame.truth)
        deposited.append(d)
        relative.append(r)
    deposited, relative = np.concatenate(deposited), np.concatenate(relative)
    assert np.isfinite(deposited).all()  # every predicted cluster is a true one here
    bright = deposited > 1000.0
    assert bright.sum() >= 20
    low, median, high = np.percentile(relative[bright], [16, 50, 84])
    print(f"charge error, clusters > 1000 ADU: median {median:+.4f}, 16 % {low:+.4f}, 84 % {high:+.4f}")
    assert abs(median) < 0.05
    assert low > -0.05


def test_charge_error_needs_the_class_map_of_the_catalogue():
    image, class_map = two_cluster_frame()
    cat = cluster_catalogue(image, class_map, pedestal_adu=PEDESTAL_ADU)
    truth = class_map.copy()
    truth[0, 15] = BACKGROUND  # the single pixel is a fake
    deposit = np.where(class_map == CLUSTER, image - PEDESTAL_ADU, 0.0)
    deposited, relative = charge_error(cat, truth, deposit * 0.8, class_map)
    assert np.isnan(deposited[0]) and deposited[1] == pytest.approx(1920.0)
    assert relative[1] == pytest.approx(0.25)
    with pytest.raises(UserInputError, match="not made from it"):
        charge_error(cat, truth, deposit, truth)


def test_summary_plot_is_written(tmp_path):
    frame = simulate_frame(np.random.default_rng(2), shape=(128, 128))
    cat = cluster_catalogue(frame.image, frame.truth)
    path = plot_summary(cat["charge_adu"], cat["n_pixels"], tmp_path / "summary.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = cluster_catalogue(frame.image, np.zeros_like(frame.truth))
    assert plot_summary(empty["charge_adu"], empty["n_pixels"], tmp_path / "empty.png").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png", "summary.png"]


def test_root_file_holds_every_numeric_column_and_the_frame_names(tmp_path):
    import uproot

    frame = np.full((20, 30), 1000.0, np.float32)
    classes = np.zeros((20, 30), np.uint8)
    frame[5:7, 5:7] += 50.0
    classes[5:7, 5:7] = CLUSTER
    run = concatenate([cluster_catalogue(frame, classes, frame_name="b"), cluster_catalogue(frame, classes, frame_name="a")])
    write_catalogue_root(tmp_path / "c.root", run)
    with uproot.open(tmp_path / "c.root") as root:
        tree = root["clusters"].arrays(library="np")
        names = str(root["frames"]).split("\n")
    assert [names[i] for i in tree["frame_index"]] == ["b", "a"]
    assert np.allclose(tree["charge_adu"], run["charge_adu"]) and tree["touches_edge"].dtype == bool
    with pytest.raises(UserInputError):
        write_catalogue_root(tmp_path / "c.root", run)
