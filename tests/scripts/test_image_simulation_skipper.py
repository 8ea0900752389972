"""image_simulation.py for skipper-CCD frames: --detector, --vary-physics over both kinds, --fits, --like, bad input."""
import json

import numpy as np
import pytest
from astropy.io import fits

import image_simulation as sim
from ccdseg.core.classes import CLASS_NAMES
from ccdseg.io.arrays import load_npy_pair
from ccdseg.simulate.detector import DAMIC_M
from ccdseg.simulate.skipper import simulate_skipper_frame


def test_damic_m_frames_are_amplifiers_with_their_physics_in_json(tmp_path, capsys):
    assert sim.main(["--detector", "damic-m", "--count", "2", "--output", str(tmp_path), "--name", "amp"]) == 0
    images, truth = load_npy_pair(tmp_path, "amp")
    assert images.shape == (2, 320, 640) and truth.shape == (2, 320, 640)
    physics = json.loads((tmp_path / "amp_detector.json").read_text())
    assert physics["gain_adu_per_electron"] == DAMIC_M.gain_adu_per_electron and "noise_electrons" in physics
    assert -60 < np.median(images) < -20  # ADU, pedestal not subtracted


def test_vary_physics_draws_both_kinds_of_frame(tmp_path):
    assert sim.main(["--vary-physics", "--count", "12", "--output", str(tmp_path), "--name", "both"]) == 0
    images, _ = load_npy_pair(tmp_path, "both")
    pedestals = np.median(images, axis=(1, 2))
    assert images.shape[1:] == (256, 256) and (pedestals < 0).any() and (pedestals > 400).any()


def test_fits_files_are_laid_out_as_the_experiments_are(tmp_path, capsys):
    assert sim.main(["--detector", "damic-m", "--fits", "--count", "1", "--size", "64", "96",
                     "--output", str(tmp_path), "--name", "run"]) == 0
    with fits.open(tmp_path / "run_0000.fits.fz") as hdus:
        assert [h.name for h in hdus] == ["PRIMARY", "CCD_A", "CCD_B", "CCD_D", "CCD_C"]
        assert hdus[0].data is None and hdus[0].header["IMAGE"] == "averaged" and hdus[0].header["NROW"] == 64
        assert isinstance(hdus[1], fits.CompImageHDU) and hdus[1].data.shape == (64, 96)
    with fits.open(tmp_path / "truth" / "run_0000.fits.fz") as truth:
        assert truth["CCD_C"].data.dtype == np.uint8 and truth["CCD_C"].header["CLASS3"] == CLASS_NAMES[3]


def test_like_a_frame_fits_it_and_simulates_frames_of_its_shape(tmp_path, capsys):
    frame = simulate_skipper_frame(np.random.default_rng(1), DAMIC_M, (160, 320))
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(frame.image, name="CCD_B")]).writeto(tmp_path / "real.fits")
    assert sim.main(["--like", str(tmp_path / "real.fits"), "--hdu", "CCD_B", "--count", "2",
                     "--output", str(tmp_path), "--name", "like"]) == 0
    printed = capsys.readouterr().out
    assert "gain" in printed and "ADU/e" in printed
    images, _ = load_npy_pair(tmp_path, "like")
    assert images.shape == (2, 160, 320)
    fitted = json.loads((tmp_path / "like_detector.json").read_text())["fit"]
    assert fitted["gain_adu_per_electron"] == pytest.approx(DAMIC_M.gain_adu_per_electron, rel=0.01)


@pytest.mark.parametrize("argv, message", [
    (["--size", "3", "1"], "--size must be two numbers of at least 16 px"),
    (["--detector", "both"], "add --vary-physics"),
    (["--detector", "damic-m", "--report"], "damic-2020 frames only"),
    (["--hdu", "1"], "belong to --like"),
    (["--like", "{tmp}/flat.fits"], "no noise peak found"),
    (["--like", "{tmp}/noise.fits"], "no 1-electron peak found"),
    (["--like", "{tmp}/noise.fits", "--gain", "-2"], "--gain must be positive"),
    (["--like", "{tmp}/table.fits"], "no 2-D image"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    fits.PrimaryHDU(np.full((64, 64), 5.0, np.float32)).writeto(tmp_path / "flat.fits")
    fits.PrimaryHDU(np.random.default_rng(0).normal(8800, 19, (64, 64)).astype(np.float32)).writeto(tmp_path / "noise.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "D", array=[1.0])])]).writeto(
        tmp_path / "table.fits")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert sim.main(argv + ["--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before
