"""load_model.py --fits runs a physicist can trust: every amplifier, resumed by content, faults ending in one line.

Issue 20's defects as a careful user and an adversary met them, and issue 19's amplifier files (every image
HDU, gains, models by kind of frame), each through `main` or the command itself.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import uproot
from astropy.io import fits

import load_model as M
from ccdseg.core import paths, safe_write
from ccdseg.infer import fits_options
from ccdseg.io.catalogue import read_catalogue_fits
from tests.amplifier_files import AMPLIFIERS, write_amplifier_file
from tests.simulated_frames import simulated

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    """`main(argv)`: (exit status, stdout, the error: lines, the note: lines); never a traceback."""
    code = M.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Warning" not in err, err[-2000:]
    lines = err.splitlines()
    return code, out, [x for x in lines if x.startswith("error:")], [x for x in lines if x.startswith("note:")]


def two_files(tmp_path):
    folder = tmp_path / "D"
    folder.mkdir(exist_ok=True)
    for k in (1, 2):
        fits.PrimaryHDU(simulated((64, 96), seed=k)).writeto(folder / f"good{k}.fits", overwrite=True)
    return folder


# %% Every amplifier of a file (issue 19, items 1 and 8)
def test_every_image_hdu_is_segmented_into_one_file_with_its_extnames(tmp_path, tiny_model_path, capsys):
    write_amplifier_file(tmp_path / "amps.fits.fz", shape=[(64, 96), (64, 96), (80, 64), (64, 96)], table=True)
    out = tmp_path / "O"
    argv = ["--fits", tmp_path / "amps.fits.fz", "--model", tiny_model_path, "--output", out, "--find", "cluster",
            "--gain", 1.3]
    code, stdout, errors, notes = run(capsys, *argv)
    assert code == 0 and errors == [] and notes == [f"note: {tmp_path / 'amps.fits.fz'}: HDU 5 (EVENTS) is a table:"
                                                    " skipped"]
    assert [line.split(": ")[1] for line in stdout.splitlines() if "amps.fits.fz: HDU" in line] == [
        f"HDU {k + 1} ({name})" for k, name in enumerate(AMPLIFIERS)]
    with fits.open(out / "amps_segmentation.fits") as written:
        assert [h.name for h in written] == ["PRIMARY", *AMPLIFIERS] and written[0].data is None
        assert written[0].header["NROW"] == 64 and [h.data.shape for h in written[1:]] == [(64, 96), (64, 96),
                                                                                            (80, 64), (64, 96)]
    assert sorted(p.name for p in out.glob("*_overview.png")) == sorted(f"amps_{n}_overview.png" for n in AMPLIFIERS)
    assert len(list(out.glob("amps_CCD_*_cluster_sections.txt"))) == 4
    catalogue, frames = read_catalogue_fits(out / "clusters.fits", with_frames=True)
    assert frames["hdu"].tolist() == list(AMPLIFIERS) and set(catalogue["hdu"]) <= set(AMPLIFIERS)
    assert np.allclose(catalogue["charge_electrons"], catalogue["charge_adu"] / 1.3)
    with uproot.open(out / "clusters.root") as root:
        assert str(root["hdus"]).split("\n") == list(AMPLIFIERS)
    assert all(n in (out / "run_report.txt").read_text() for n in AMPLIFIERS)
    code, stdout, errors, _ = run(capsys, *argv)
    assert code == 0 and stdout.count("done in an earlier run") == 1 and all(f"({n})" in stdout for n in AMPLIFIERS)


def test_each_hdu_takes_its_own_region_keyword(tmp_path, tiny_model_path, capsys):
    regions = {"CCD_A": "[1:64,1:48]", "CCD_B": "[9:96,1:64]"}
    write_amplifier_file(tmp_path / "amps.fits", names=tuple(regions),
                         cards={name: {"DATASEC": region} for name, region in regions.items()})
    code, _, errors, _ = run(capsys, "--fits", tmp_path / "amps.fits", "--model", tiny_model_path, "--output",
                             tmp_path / "O", "--region", "DATASEC")
    assert code == 0 and errors == []
    with fits.open(tmp_path / "O" / "amps_segmentation.fits") as written:
        assert [written[name].header["SEGREGN"] for name in regions] == list(regions.values())
        assert not written["CCD_B"].data[:, :8].any()


def test_a_bad_gain_of_one_hdu_is_one_error_and_the_others_are_segmented(tmp_path, tiny_model_path, capsys):
    write_amplifier_file(tmp_path / "amps.fits", shape=(64, 64), cards={"CCD_B": {"GAIN": 0.0},
                                                                         "CCD_C": {"GAIN": 1.25}})
    assert M.main(["--fits", str(tmp_path / "amps.fits"), "--model", str(tiny_model_path), "--output",
                   str(tmp_path / "O")]) == 1
    err = capsys.readouterr().err
    assert "1 files: 3 frames segmented, 0 done in an earlier run (skipped), 1 failed" in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {tmp_path / 'amps.fits'}: HDU 2 (CCD_B): header GAIN = 0 ADU per"
                                    " electron: a gain must be positive (or give --gain)"]
    with fits.open(tmp_path / "O" / "amps_segmentation.fits") as written:
        assert [h.name for h in written] == ["PRIMARY", "CCD_A", "CCD_D", "CCD_C"]
        assert written["CCD_C"].header["SEGGAIN"] == 1.25 and "SEGGAIN" not in written["CCD_A"].header


def test_each_frame_gets_the_model_of_its_kind_and_says_why(tmp_path, tiny_model_path, capsys, monkeypatch):
    for name in ("default", "skipper"):
        shutil.copy(tiny_model_path, tmp_path / f"{name}.keras")
        shutil.copy(tiny_model_path.with_suffix(".json"), tmp_path / f"{name}.json")
    monkeypatch.setattr(paths, "DEFAULT_MODEL", tmp_path / "default.keras")
    from ccdseg.simulate.detector import DAMIC_M
    from ccdseg.simulate.skipper import simulate_skipper_frame

    skipper = simulate_skipper_frame(np.random.default_rng(1), DAMIC_M, (128, 256)).image
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(simulated((128, 256)), name="CCD"),
                  fits.ImageHDU(skipper, name="SKIP")]).writeto(tmp_path / "two.fits")
    code, stdout, errors, _ = run(capsys, "--fits", tmp_path / "two.fits", "--output", tmp_path / "O")
    assert code == 0 and errors == []
    lines = [line for line in stdout.splitlines() if "two.fits: HDU" in line]
    assert "model default.keras (single electrons not resolved" in lines[0]
    assert "model skipper.keras (single electrons resolved" in lines[1]
    with fits.open(tmp_path / "O" / "two_segmentation.fits") as written:
        assert [written[k].header["SEGMODEL"] for k in (1, 2)] == ["default.keras", "skipper.keras"]


# %% Resume by content (issue 20, defects 1 and 12)
def test_changed_input_content_is_refused_without_force_and_redone_with_it(tmp_path, tiny_model_path, capsys):
    folder, out = two_files(tmp_path), tmp_path / "O"
    argv = ["--fits", folder, "--model", tiny_model_path, "--output", out]
    assert run(capsys, *argv)[0] == 0
    before = read_catalogue_fits(out / "good1_clusters.fits")
    fits.PrimaryHDU(simulated((64, 96), seed=9)).writeto(folder / "good1.fits", overwrite=True)
    code, stdout, errors, _ = run(capsys, *argv)
    assert code == 1 and len(errors) == 1 and "good1.fits (made from other content of the input" in errors[0]
    assert "--force redoes them" in errors[0] and "good2" not in errors[0]
    code, stdout, errors, _ = run(capsys, *argv, "--force")
    assert code == 0 and not np.array_equal(read_catalogue_fits(out / "good1_clusters.fits")["x"], before["x"])


@pytest.mark.parametrize("change, said", [(["--region", "[1:64,1:64]"], "--region None -> [1:64,1:64]"),
                                          (["--find", "cluster"], "--find None -> cluster"),
                                          (["--runtime", "keras", "--precision", "bfloat16"], "precision"),
                                          (["--model", "{other}"], "another model")])
def test_a_rerun_with_other_options_or_model_is_refused_not_skipped(tmp_path, tiny_model_path, capsys, change, said):
    folder, out = two_files(tmp_path), tmp_path / "O"
    shutil.copy(tiny_model_path, tmp_path / "other.keras")
    (tmp_path / "other.json").write_text('{"depth": 2, "name": "other"}')
    assert run(capsys, "--fits", folder, "--model", tiny_model_path, "--output", out, "--runtime", "keras")[0] == 0
    change = [str(tmp_path / "other.keras") if c == "{other}" else c for c in change]
    argv = ["--fits", folder, "--model", tiny_model_path, "--output", out, "--runtime", "keras", *change]
    code, stdout, errors, _ = run(capsys, *argv)
    assert code == 1 and len(errors) == 1 and said in errors[0] and "done in an earlier run" not in stdout


def test_a_same_named_file_of_another_folder_is_not_taken_as_done(tmp_path, tiny_model_path, capsys):
    out = tmp_path / "O"
    assert run(capsys, "--fits", two_files(tmp_path), "--model", tiny_model_path, "--output", out)[0] == 0
    (tmp_path / "E").mkdir()
    fits.PrimaryHDU(simulated((64, 96), seed=7)).writeto(tmp_path / "E" / "good1.fits")
    code, _, errors, _ = run(capsys, "--fits", tmp_path / "E", "--model", tiny_model_path, "--output", out)
    assert code == 1 and len(errors) == 1 and "good1.fits (made from other content" in errors[0]


def test_an_empty_overview_or_a_truncated_catalogue_makes_its_frame_redone(tmp_path, tiny_model_path, capsys):
    folder, out = two_files(tmp_path), tmp_path / "O"
    argv = ["--fits", folder, "--model", tiny_model_path, "--output", out]
    assert run(capsys, *argv)[0] == 0
    (out / "good1_overview.png").write_bytes(b"")
    catalogue = out / "good2_clusters.fits"
    catalogue.write_bytes(catalogue.read_bytes()[:6000])
    code, stdout, errors, _ = run(capsys, *argv)  # no astropy warning either (`run` checks)
    assert code == 0 and errors == [] and "done in an earlier run" not in stdout
    assert (out / "good1_overview.png").stat().st_size > 0 and read_catalogue_fits(catalogue) is not None


# %% Names, run catalogue, counts (issue 20, defects 2, 4, 8, 14)
def test_a_file_named_like_a_cube_plane_refuses_the_run_before_any_work(tmp_path, tiny_model_path, capsys):
    fits.PrimaryHDU(np.stack([simulated((32, 32), k) for k in range(3)])).writeto(tmp_path / "cube.fits")
    fits.PrimaryHDU(simulated((32, 32))).writeto(tmp_path / "cube_plane1.fits")
    code, _, errors, _ = run(capsys, "--fits", tmp_path, "--model", tiny_model_path, "--output", tmp_path / "O")
    assert code == 1 and len(errors) == 1 and "cube_plane1_overview.png" in errors[0]
    assert not (tmp_path / "O").exists()


def test_a_later_run_on_one_file_keeps_every_frame_in_the_run_catalogue(tmp_path, tiny_model_path, capsys):
    folder, out = two_files(tmp_path), tmp_path / "O"
    assert run(capsys, "--fits", folder, "--model", tiny_model_path, "--output", out)[0] == 0
    whole = read_catalogue_fits(out / "clusters.fits")
    code, _, _, _ = run(capsys, "--fits", folder / "good2.fits", "--model", tiny_model_path, "--output", out, "--force")
    again, frames = read_catalogue_fits(out / "clusters.fits", with_frames=True)
    assert code == 0 and len(again["frame"]) == len(whole["frame"]) and frames["frame"].tolist() == ["good1", "good2"]


def test_every_input_not_taken_is_named_and_the_count_says_done_and_skipped(tmp_path, tiny_model_path, capsys):
    folder, out = two_files(tmp_path), tmp_path / "O"
    for name in ("x_clusters.fits", "x_segmentation.fits", "clusters.fits", "y.fits.bz2"):
        (folder / name).write_bytes(b"")
    code, _, _, notes = run(capsys, "--fits", folder, "--model", tiny_model_path, "--output", out)
    assert code == 0 and len(notes) == 1 and all(n in notes[0] for n in ("x_clusters.fits", "x_segmentation.fits",
                                                                         "clusters.fits (", "y.fits.bz2"))
    os.utime(folder / "good2.fits")  # touched: its outputs are stale
    assert M.main(["--fits", str(folder / "good1.fits"), "--model", str(tiny_model_path), "--output", str(out)]) == 0
    assert "1 files: 0 frames segmented, 1 done in an earlier run (skipped), 0 failed" in capsys.readouterr().err


# %% Mistakes found before the model loads, nothing left behind (issue 20, defects 5, 7, 13)
@pytest.mark.parametrize("argv, message", [
    (["--scheduler", "notanaddress"], "is not the address of a Dask scheduler"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"], "give one or the other"),
    (["--workers", "1000"], "cores"),
    (["--tile", "62"], "multiple of 4"),
    (["--hdu", "CCD_Z"], "no HDU named 'CCD_Z'"),
    (["--plane", "2"], "no plane 2"),
    (["--region", "[1:500,1:10]"], "not within"),
    (["--model", "absent.keras"], "no such model file"),
    (["--gain", "-1"], "--gain must be a positive"),
])
def test_a_bad_option_is_one_line_before_the_model_loads_and_leaves_no_folder(tmp_path, tiny_model_path, capsys,
                                                                              argv, message):
    write_amplifier_file(tmp_path / "amps.fits", shape=(32, 32), names=("CCD_A",))
    argv = ["--model", tiny_model_path, *argv] if "--model" not in argv else argv
    code, _, errors, _ = run(capsys, "--fits", tmp_path / "amps.fits", "--output", tmp_path / "O", *argv)
    assert code == 1 and len(errors) == 1 and message in errors[0], errors
    assert not (tmp_path / "O").exists()


def test_a_second_run_on_an_output_folder_is_refused_naming_the_first(tmp_path, tiny_model_path, capsys):
    folder = two_files(tmp_path)
    with safe_write.folder_lock(tmp_path / "O"):
        code, _, errors, _ = run(capsys, "--fits", folder, "--model", tiny_model_path, "--output", tmp_path / "O")
    assert code == 1 and len(errors) == 1 and f"another run (process {os.getpid()} on" in errors[0]
    assert not any(p.name.endswith(".fits") for p in (tmp_path / "O").iterdir())


# %% Stopping a run (issue 20, defects 5 and 11): the command itself, in its own process group
def start(tmp_path, tiny_model_path, *extra):
    folder = tmp_path / "D"
    folder.mkdir()
    image = simulated((512, 512))
    for k in range(16):
        fits.PrimaryHDU(np.roll(image, 37 * k, axis=1)).writeto(folder / f"f{k}.fits")
    command = [sys.executable, str(ROOT / "load_model.py"), "--fits", str(folder), "--model", str(tiny_model_path),
               "--output", str(tmp_path / "O"), "--runtime", "keras", *extra]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    started = time.monotonic()
    while not list((tmp_path / "O").glob("*_overview.png")) and time.monotonic() - started < 180:
        time.sleep(0.1)  # a frame done: the run is well under way
    return child


@pytest.mark.parametrize("how, status, said", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                               (signal.SIGINT, 130, "interrupted")])
def test_sigterm_and_ctrl_c_stop_cleanly_in_one_line(tmp_path, tiny_model_path, how, status, said):
    child = start(tmp_path, tiny_model_path)
    os.killpg(child.pid, how)
    stopped = time.monotonic()
    _, err = child.communicate(timeout=60)
    assert child.returncode == status and time.monotonic() - stopped < 20
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and said in errors[0] and "Traceback" not in err
    assert [p.name for p in (tmp_path / "O").iterdir() if p.name.startswith(".")] == []


def test_ctrl_c_stops_dask_workers_within_seconds(tmp_path, tiny_model_path):
    if fits_options.available_cores() < 2:
        pytest.skip("two cores are needed for two workers")
    child = start(tmp_path, tiny_model_path, "--workers", "2")
    os.killpg(child.pid, signal.SIGINT)
    stopped = time.monotonic()
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and time.monotonic() - stopped < 30 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: interrupted; {M.INTERRUPTED}"]
