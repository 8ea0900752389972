"""mask.py: the original's mask functions under their names, and a data set's threshold labels from the command line."""
import numpy as np

import mask
from ccdseg.core import checks, classes
from ccdseg.plots import labels
from ccdseg.simulate import thresholds
from ccdseg.simulate.datasets import simulate_dataset


def test_the_original_names_are_importable_from_the_script():
    from mask import get_class, get_mask, get_monochrome, mask_to_label, visualize_label

    assert get_class is thresholds.get_class and get_mask is thresholds.get_mask
    assert get_monochrome is checks.get_monochrome and mask_to_label is classes.mask_to_label
    assert visualize_label is labels.visualize_label
    assert mask.mask_to_label_one_object is labels.mask_to_label_one_object
    assert (mask.get_max_in_mask, mask.get_percentages, mask.statistics) == (
        classes.get_max_in_mask, classes.get_percentages, classes.statistics)


def test_main_labels_a_data_set_scores_it_and_draws_its_first_frame(tmp_path, capsys):
    images, truth = simulate_dataset(2, 4, size=(64, 64), progress=False)
    np.save(tmp_path / "data.npy", images)
    np.save(tmp_path / "truth.npy", truth)
    figure = tmp_path / "labels.png"
    argv = ["--data", str(tmp_path / "data.npy"), "--truth", str(tmp_path / "truth.npy"), "--figure", str(figure),
            "--no-show"]
    assert mask.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("threshold labels: background ") and "against the truth:" in out and "hot pixel" in out
    assert figure.stat().st_size > 1000
    assert mask.main(argv) == 1 and "--force" in capsys.readouterr().err
    assert mask.main([*argv, "--force", "--truth", "none"]) == 0 and "against" not in capsys.readouterr().out


def test_main_refuses_a_band_that_is_not_positive(tmp_path, capsys):
    assert mask.main(["--band-sigma", "0", "--figure", str(tmp_path / "f.png"), "--no-show"]) == 1
    assert capsys.readouterr().err == "error: --band-sigma must be positive, not 0.0\n"
