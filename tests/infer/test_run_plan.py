"""The frames of a FITS run, planned before any work (ccdseg/infer/run_plan.py): inputs, HDUs, names, checks."""
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from ccdseg.core.errors import UserInputError
from ccdseg.infer import run_plan
from tests.amplifier_files import write_amplifier_file
from tests.fits_files import frame


def test_a_folder_gives_its_fits_files_and_names_every_entry_it_leaves_with_its_reason(tmp_path):
    for name in ("b.fits", "a.fz", "c_segmentation.fits", "c_clusters.fits", "clusters.fits", ".hidden.fits", "x.txt",
                 "d.fits.bz2", "run_report.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.fits").mkdir()
    files, skipped = run_plan.fits_inputs(tmp_path)
    assert [f.name for f in files] == ["a.fz", "b.fits"] and all(f.is_absolute() for f in files)
    text = "; ".join(skipped)
    for name in ("c_segmentation.fits", "c_clusters.fits", "clusters.fits", ".hidden.fits", "x.txt", "d.fits.bz2",
                 "run_report.txt", "sub.fits"):
        assert len(re.findall(rf"(?:^|; |, ){re.escape(name)}[ ,]", text)) == 1, name
    assert "d.fits.bz2 (compressed as .bz2, which is not read" in text and ".hidden.fits (hidden)" in text
    assert run_plan.fits_inputs(tmp_path / "b.fits") == ([tmp_path / "b.fits"], [])
    with pytest.raises(UserInputError, match="no such file or folder"):
        run_plan.fits_inputs(tmp_path / "absent")


def test_every_image_hdu_is_a_frame_named_for_its_extname_and_other_hdus_are_noted(tmp_path):
    write_amplifier_file(tmp_path / "amps.fits", shape=[(64, 96), (64, 96), (80, 64), (64, 96)], table=True)
    plan = run_plan.plan_run(tmp_path / "amps.fits")
    (job,) = plan.files
    assert job.stem == "amps" and job.segmentation_name == "amps_segmentation.fits"
    assert [f.name for f in job.frames] == ["amps_CCD_A", "amps_CCD_B", "amps_CCD_D", "amps_CCD_C"]
    assert [f.label for f in job.frames] == ["CCD_A", "CCD_B", "CCD_D", "CCD_C"] and job.frames[2].hdu.shape == (80, 64)
    assert plan.notes == [f"{tmp_path / 'amps.fits'}: HDU 5 (EVENTS) is a table: skipped"] and plan.errors == []
    one = run_plan.plan_run(tmp_path / "amps.fits", hdu="CCD_B").files[0]
    assert one.stem == "amps_CCD_B" and [f.name for f in one.frames] == ["amps_CCD_B"]


def test_a_bad_gain_or_region_of_one_hdu_is_an_error_and_the_others_go_on(tmp_path):
    write_amplifier_file(tmp_path / "amps.fits", cards={"CCD_B": {"GAIN": 0.0}, "CCD_C": {"GAIN": -1.3},
                                                        "CCD_D": {"GAIN": 1.3}})
    plan = run_plan.plan_run(tmp_path / "amps.fits")
    assert [f.label for f in plan.files[0].frames] == ["CCD_A", "CCD_D"]
    assert len(plan.errors) == 2 and all("GAIN" in e and "must be positive" in e for e in plan.errors)
    assert "HDU 2 (CCD_B)" in plan.errors[0] and "HDU 4 (CCD_C)" in plan.errors[1]
    assert len(run_plan.plan_run(tmp_path / "amps.fits", gain=1.2).files[0].frames) == 4
    plan = run_plan.plan_run(tmp_path / "amps.fits", region="[1:96,1:70]", gain=1.2)
    assert plan.files == [] and len(plan.errors) == 4 and "not within 1:64" in plan.errors[0]


def test_a_file_named_like_a_cube_plane_is_refused_before_any_work(tmp_path):
    fits.PrimaryHDU(np.stack([frame((32, 32), k) for k in range(3)])).writeto(tmp_path / "cube.fits")
    fits.PrimaryHDU(frame((32, 32))).writeto(tmp_path / "cube_plane1.fits")
    with pytest.raises(UserInputError, match=r"cube.fits HDU 0 \(PRIMARY\) plane 1, cube_plane1.fits would all write"
                                             r" cube_plane1_overview.png"):
        run_plan.plan_run(tmp_path)
    assert [f.name for f in run_plan.plan_run(tmp_path / "cube.fits").files[0].frames] == [
        "cube_plane0", "cube_plane1", "cube_plane2"]


@pytest.mark.parametrize("names, clash", [(("run1.fits", "run1.fits.gz"), "run1.fits, run1.fits.gz would all write"),
                                          (("a.fits", "a_CCD_B.fits"), "would all write a_CCD_B_overview.png")])
def test_two_inputs_whose_outputs_share_a_name_are_refused(tmp_path, names, clash):
    for name in names:
        if "CCD" in name or name == "run1.fits.gz":
            fits.PrimaryHDU(frame((32, 32))).writeto(tmp_path / name)
        else:
            write_amplifier_file(tmp_path / name, shape=(32, 32), names=("CCD_A", "CCD_B"))
    with pytest.raises(UserInputError, match=clash):
        run_plan.plan_run(tmp_path)


def test_relative_inputs_become_absolute_paths_for_remote_workers(tmp_path, monkeypatch):
    (tmp_path / "D").mkdir()
    fits.PrimaryHDU(frame((32, 32))).writeto(tmp_path / "D" / "a.fits")
    monkeypatch.chdir(tmp_path)
    assert run_plan.plan_run(Path("D")).files[0].path == tmp_path / "D" / "a.fits"
    assert run_plan.plan_run(Path("D/a.fits")).files[0].path == tmp_path / "D" / "a.fits"
