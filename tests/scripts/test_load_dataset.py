"""load_dataset.py: the original's names, FITS frames read for the network, a data set described."""
import numpy as np
from astropy.io import fits

import load_dataset
from ccdseg.infer import object_search, tiling
from ccdseg.io import arrays
from ccdseg.model import class_weights
from tests.fits_files import frame


def test_the_original_names_are_importable_from_the_script():
    from load_dataset import check_one_object, get_weights, images_small2big, process_fits

    assert get_weights is class_weights.get_weights and images_small2big is tiling.images_small2big
    assert check_one_object is object_search.check_one_object and callable(process_fits)
    assert load_dataset.load_npy_pair is arrays.load_npy_pair and load_dataset.load_frames is arrays.load_frames


def test_process_fits_normalises_the_frame_as_the_network_sees_it(tmp_path):
    data = frame((40, 70))
    data[3, 4], data[10, 11], data[20, 30] = np.nan, np.inf, -np.inf
    path = tmp_path / "float.fits"
    fits.PrimaryHDU(data).writeto(path)
    normalised = load_dataset.process_fits(path, normalise=True).normalised
    assert np.isfinite(normalised).all() and abs(float(np.median(normalised))) < 0.1
    assert load_dataset.process_fits(path).normalised is None


def test_main_describes_a_data_set(tmp_path, capsys):
    truth = np.zeros((2, 16, 16), np.uint8)
    truth[:, :, :4], truth[:, 8, 5:12], truth[:, 2, 14] = 1, 2, 3
    np.save(tmp_path / "training_data.npy", np.full((2, 16, 16), 8800.0, np.float32))
    np.save(tmp_path / "training_truth.npy", truth)
    assert load_dataset.main(["--folder", str(tmp_path), "--weighting", "none"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2 frames of 16 x 16 px, float32 ADU" and lines[1].startswith("class percentages: background ")
    assert lines[2] == "class weights (none): background 1, glowing 1, hot pixel 1, cluster 1"
    assert load_dataset.main(["--folder", str(tmp_path), "--name", "test"]) == 1
    assert "test_data.npy: no such file" in capsys.readouterr().err
