"""A run's catalogue rebuilt from every finished file in its folder (ccdseg/infer/run_catalogue.py)."""
import numpy as np
import uproot

from ccdseg.core.classes import CLUSTER
from ccdseg.infer import run_catalogue
from ccdseg.infer.catalogue import cluster_catalogue
from ccdseg.io.catalogue import concatenate, frame_list, read_catalogue_fits, with_hdu, write_catalogue_fits

RECORD = {"SEGKEY": ("0123456789abcdef", "key")}


def write_file_catalogue(folder, stem, clusters_per_frame):
    """`folder/STEM_clusters.fits` as a run writes it: one frame per count, each with that many 1-pixel clusters."""
    catalogues, rows = [], []
    for number, count in enumerate(clusters_per_frame):
        image, classes = np.full((16, 16), 100.0, np.float32), np.zeros((16, 16), np.uint8)
        classes[2, 2: 2 + 2 * count: 2] = CLUSTER
        name = f"{stem}_HDU{number + 1}"
        catalogues.append(with_hdu(cluster_catalogue(image, classes, name, pedestal_adu=90.0), f"HDU{number + 1}"))
        rows.append({"frame": name, "hdu": f"HDU{number + 1}", "source": f"{stem}.fits", "plane": -1,
                     "n_clusters": count, "n_masked": 0, "gain": np.nan, "model": "m.keras", "run_key": "0123"})
    write_catalogue_fits(folder / f"{stem}_clusters.fits", concatenate(catalogues), True, RECORD, frame_list(rows))


def test_every_finished_frame_of_the_folder_is_in_the_run_files_clusters_or_none(tmp_path):
    write_file_catalogue(tmp_path, "a", [2, 0])
    write_file_catalogue(tmp_path, "b", [1])
    write_catalogue_fits(tmp_path / "user_clusters.fits", read_catalogue_fits(tmp_path / "b_clusters.fits"))  # not ours
    run_catalogue.finish_run(tmp_path)
    run, frames = read_catalogue_fits(tmp_path / "clusters.fits", with_frames=True)
    assert run["frame"].tolist() == ["a_HDU1", "a_HDU1", "b_HDU1"]
    assert frames["frame"].tolist() == ["a_HDU1", "a_HDU2", "b_HDU1"] and frames["n_clusters"].tolist() == [2, 0, 1]
    with uproot.open(tmp_path / "clusters.root") as root:
        names = str(root["frames"]).split("\n")
        listed = root["frame_list"]["frame_index"].array(library="np")
    assert [names[i] for i in listed] == ["a_HDU1", "a_HDU2", "b_HDU1"]
    report = (tmp_path / "run_report.txt").read_text().splitlines()
    assert report[0].startswith("3 frames of 2 files") and report[2] == (
        "a_HDU2: a.fits HDU2 plane -: 0 clusters, 0 masked px, gain unknown, m.keras")


def test_a_broken_file_catalogue_is_left_out_and_named(tmp_path, capsys):
    write_file_catalogue(tmp_path, "a", [1])
    write_file_catalogue(tmp_path, "b", [1])
    (tmp_path / "b_clusters.fits").write_bytes((tmp_path / "b_clusters.fits").read_bytes()[:3000])
    run_catalogue.finish_run(tmp_path)
    assert read_catalogue_fits(tmp_path / "clusters.fits")["frame"].tolist() == ["a_HDU1"]
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "b_clusters.fits" in notes[0]
