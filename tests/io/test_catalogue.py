"""Cluster catalogues on disk (ccdseg/io/catalogue.py): FITS tables and ROOT files, columns, units, safe writing."""
import warnings

import numpy as np
import pytest
import uproot
from astropy.io import fits

from ccdseg.core.classes import CLUSTER
from ccdseg.core.errors import UserInputError
from ccdseg.infer.catalogue import cluster_catalogue
from ccdseg.io.catalogue import (
    COLUMN_NAMES,
    COLUMNS,
    FRAME_COLUMNS,
    concatenate,
    frame_list,
    read_catalogue_fits,
    with_hdu,
    write_catalogue_fits,
    write_catalogue_root,
)
from ccdseg.simulate.frame import simulate_frame
from tests.catalogue_frames import PEDESTAL_ADU, two_cluster_frame


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
    frame = simulate_frame(np.random.default_rng(1), shape=(96, 96))
    cat = cluster_catalogue(frame.image, frame.truth, frame_name="run7_frame12.fits", origin=(40, 500))
    cat = with_hdu(cat, "CCD_A")
    assert len(cat["x"]) > 0 and set(cat["hdu"]) == {"CCD_A"}
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


def test_root_file_holds_every_numeric_column_and_the_frame_names(tmp_path):
    frame = np.full((20, 30), 1000.0, np.float32)
    classes = np.zeros((20, 30), np.uint8)
    frame[5:7, 5:7] += 50.0
    classes[5:7, 5:7] = CLUSTER
    run = concatenate([cluster_catalogue(frame, classes, frame_name=name) for name in ("b", "a")])
    write_catalogue_root(tmp_path / "c.root", run)
    with uproot.open(tmp_path / "c.root") as root:
        tree = root["clusters"].arrays(library="np")
        names = str(root["frames"]).split("\n")
    assert [names[i] for i in tree["frame_index"]] == ["b", "a"]
    assert np.allclose(tree["charge_adu"], run["charge_adu"]) and tree["touches_edge"].dtype == bool
    with pytest.raises(UserInputError):
        write_catalogue_root(tmp_path / "c.root", run)


# %% The HDU of each cluster, and every frame processed (issues 19 and 20)
def frame_row(name, hdu, clusters):
    return {"frame": name, "hdu": hdu, "source": "é.fits", "plane": -1, "n_clusters": clusters, "n_masked": 0,
            "gain": np.nan, "model": "m.keras", "run_key": "0123456789abcdef"}


def test_catalogues_without_an_hdu_column_get_an_empty_one():
    image, class_map = two_cluster_frame()
    plain = cluster_catalogue(image, class_map, frame_name="a", pedestal_adu=PEDESTAL_ADU)
    plain.pop("hdu", None)
    run = concatenate([plain, with_hdu(plain, "CCD_B")])
    assert list(run) == list(COLUMN_NAMES) and run["hdu"].tolist() == ["", "", "CCD_B", "CCD_B"]


def test_frames_without_clusters_are_listed_in_fits_and_root_with_the_same_names(tmp_path):
    frame = np.full((20, 30), 1000.0, np.float32)
    classes = np.zeros((20, 30), np.uint8)
    frame[5:7, 5:7] += 50.0
    classes[5:7, 5:7] = CLUSTER
    run = concatenate([with_hdu(cluster_catalogue(frame, classes, frame_name="é_CCD_A"), "CCD_A"),
                       with_hdu(cluster_catalogue(frame, classes, frame_name="é_CCD_C"), "CCD_C")])
    frames = frame_list([frame_row("é_CCD_A", "CCD_A", 1), frame_row("é_CCD_B", "CCD_B", 0),
                         frame_row("é_CCD_C", "CCD_C", 1)])
    write_catalogue_fits(tmp_path / "c.fits", run, frames=frames)
    back, listed = read_catalogue_fits(tmp_path / "c.fits", with_frames=True)
    assert back["frame"].tolist() == ["\\xe9_CCD_A", "\\xe9_CCD_C"] and back["hdu"].tolist() == ["CCD_A", "CCD_C"]
    assert listed["frame"].tolist() == ["\\xe9_CCD_A", "\\xe9_CCD_B", "\\xe9_CCD_C"]
    assert listed["n_clusters"].tolist() == [1, 0, 1] and list(listed) == [c.name for c in FRAME_COLUMNS]
    write_catalogue_root(tmp_path / "c.root", run, frames=frames)
    with uproot.open(tmp_path / "c.root") as root:
        names, hdus = str(root["frames"]).split("\n"), str(root["hdus"]).split("\n")
        tree, listing = root["clusters"].arrays(library="np"), root["frame_list"].arrays(library="np")
    assert [names[i] for i in tree["frame_index"]] == back["frame"].tolist()
    assert [hdus[i] for i in tree["hdu_index"]] == ["CCD_A", "CCD_C"]
    assert [names[i] for i in listing["frame_index"]] == listed["frame"].tolist()
    assert listing["n_clusters"].tolist() == [1, 0, 1]


def test_a_truncated_catalogue_is_one_error_without_warnings(tmp_path, recwarn):
    image, class_map = two_cluster_frame()
    path = write_catalogue_fits(tmp_path / "c.fits", cluster_catalogue(image, class_map, pedestal_adu=PEDESTAL_ADU),
                                frames=frame_list([frame_row("a", "PRIMARY", 2)]))
    path.write_bytes(path.read_bytes()[:2880 * 2 + 100])
    with pytest.raises(UserInputError, match="truncated|not a readable"):
        read_catalogue_fits(path)
    assert len(recwarn) == 0


def test_frame_names_keep_their_rows_order_and_become_ascii(tmp_path):
    names = np.array(["b_frame", "a_frame", "café", "b_frame", "a_frame", "café"])
    cat = {c.name: (names if c.name == "frame" else np.arange(6).astype(c.dtype) if c.dtype != "str" else
                    np.array(["CCD_A"] * 6)) for c in COLUMNS}
    back = read_catalogue_fits(write_catalogue_fits(tmp_path / "clusters.fits", cat))
    assert list(back["frame"]) == ["b_frame", "a_frame", "caf\\xe9", "b_frame", "a_frame", "caf\\xe9"]


def test_astropy_reads_both_tables_with_their_units_and_no_warning(tmp_path):
    from astropy import units
    from astropy.table import Table

    image, class_map = two_cluster_frame()
    path = write_catalogue_fits(tmp_path / "c.fits", cluster_catalogue(image, class_map, pedestal_adu=PEDESTAL_ADU),
                                frames=frame_list([frame_row("a", "PRIMARY", 2)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unknown unit would be an astropy UnitsWarning on every read
        clusters, frames = Table.read(path, hdu="CLUSTERS"), Table.read(path, hdu=2)
    for table, columns in ((clusters, COLUMNS), (frames, FRAME_COLUMNS)):
        for column in columns:
            assert (table[column.name].unit is None) == (column.unit == ""), column.name
            if column.unit:
                assert table[column.name].unit == units.Unit(column.unit, format="fits"), column.name
    assert clusters["charge_electrons"].unit == units.ct and frames["gain"].unit == units.adu / units.ct
