"""FITS frames and folders segmented to files (ccdseg/infer/fits_run.py): inputs, output names, resumable runs."""
import numpy as np
import pytest
from astropy.io import fits

from ccdseg.core.errors import UserInputError
from ccdseg.infer import fits_run, tiling
from ccdseg.infer.fits_run import run_frame, run_frames
from ccdseg.infer.segmenter import Segmenter
from tests.fits_files import write_bad_file
from tests.simulated_frames import simulated


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return Segmenter.load(tiny_model_path)


def test_run_of_frames_one_ahead_gives_each_frame_what_it_gives_alone_in_order(tmp_path, model):
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(3):
        fits.PrimaryHDU(simulated((96, 128), seed=20 + k)).writeto(folder / f"f{k}.fits")
    bad = write_bad_file(folder, "corrupt")
    jobs = [(folder / "f0.fits", None), (bad, None), (folder / "f1.fits", None), (folder / "f2.fits", None)]
    options = {"progress": False, "force": True}
    alone = [run_frame(model, file, plane, tmp_path / "alone", options) for file, plane in jobs]
    ahead = list(run_frames(model, jobs, tmp_path / "ahead", options))
    assert [("error" in r) for r in ahead] == [False, True, False, False]
    assert ahead[1]["error"] == alone[1]["error"] and str(bad) in ahead[1]["error"]
    for one, other, (file, _) in zip(alone, ahead, jobs):
        if "error" in one:
            continue
        assert other["summary"] == one["summary"].replace(str(tmp_path / "alone"), str(tmp_path / "ahead"))
        for column in one["catalogue"]:  # NaN in the same places counts as equal (no gain: no electrons)
            np.testing.assert_array_equal(other["catalogue"][column], one["catalogue"][column], err_msg=column)
        name = f"{file.stem}_segmentation.fits"
        assert np.array_equal(fits.getdata(tmp_path / "ahead" / name), fits.getdata(tmp_path / "alone" / name))


def test_output_names_carry_the_hdu_and_the_plane(tmp_path):
    assert fits_run.output_stem(tmp_path / "run1.fits.gz", None, None) == "run1"
    assert fits_run.output_stem(tmp_path / "run1.fits", "SCI 2", 3) == "run1_SCI_2_plane3"


def test_a_folder_gives_its_fits_files_and_notes_what_it_skips(tmp_path):
    for name in ("b.fits", "a.fz", "c_segmentation.fits", "c_clusters.fits", "clusters.fits", ".hidden.fits", "x.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.fits").mkdir()
    files, skipped = fits_run.fits_inputs(tmp_path)
    assert [f.name for f in files] == ["a.fz", "b.fits"]
    assert skipped == [".hidden.fits (hidden)", "sub.fits (a folder)"]
    assert fits_run.fits_inputs(tmp_path / "b.fits") == ([tmp_path / "b.fits"], [])
    (tmp_path / "b.fits.gz").write_bytes(b"")
    with pytest.raises(UserInputError, match="b.fits, b.fits.gz would all write outputs named b_"):
        fits_run.fits_inputs(tmp_path)
    with pytest.raises(UserInputError, match="no such file or folder"):
        fits_run.fits_inputs(tmp_path / "absent")


def test_a_segmented_plane_records_the_tiles_as_they_are_when_it_runs(tmp_path, model, monkeypatch):
    fits.PrimaryHDU(simulated((80, 100), seed=3)).writeto(tmp_path / "f.fits")
    monkeypatch.setattr(tiling, "TILE_SIZE_PX", 64)
    monkeypatch.setattr(tiling, "MARGIN_PX", 8)
    segmented = fits_run.segment_plane(model, tmp_path / "f.fits", tmp_path / "out", progress=False)
    assert segmented.notes["SEGTILE"][0] == 64 and segmented.notes["SEGMARG"][0] == 8
    assert np.array_equal(segmented.classes, model.segment(segmented.frame.data, tile_px=64, margin_px=8))
    summary, catalogue, pixels = fits_run.write_outputs(segmented)
    assert pixels == 80 * 100 and "f.fits" in summary and set(catalogue) >= {"x", "y", "charge_adu"}
    done = fits_run.segment_plane(model, tmp_path / "f.fits", tmp_path / "out", progress=False)
    assert done.frame is None and done.done is not None
    assert fits_run.write_outputs(done)[0].endswith("done in an earlier run, skipped (--force redoes it)")
