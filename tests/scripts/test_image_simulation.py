"""image_simulation.py: data sets on disk from the command line: files, determinism, no overwriting, PNGs, report."""
import numpy as np

import image_simulation as sim
from ccdseg.core import paths
from ccdseg.io.arrays import load_npy_pair


def test_writes_data_and_truth_with_shapes(tmp_path, capsys):
    assert sim.main(["--count", "3", "--seed", "1", "--output", str(tmp_path), "--size", "64", "96"]) == 0
    images, truth = load_npy_pair(tmp_path, "training")
    assert images.shape == (3, 64, 96) and images.dtype == np.float32
    assert truth.shape == (3, 64, 96) and truth.dtype == np.uint8
    assert "class percentages" in capsys.readouterr().out


def test_same_seed_gives_byte_identical_files(tmp_path):
    for folder in ("a", "b"):
        assert sim.main(["--count", "4", "--seed", "7", "--output", str(tmp_path / folder)]) == 0
    for suffix in ("data", "truth"):
        a = (tmp_path / "a" / f"training_{suffix}.npy").read_bytes()
        b = (tmp_path / "b" / f"training_{suffix}.npy").read_bytes()
        assert a == b
    assert sim.main(["--count", "4", "--seed", "8", "--output", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "training_data.npy").read_bytes() != (tmp_path / "a" / "training_data.npy").read_bytes()


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    args = ["--count", "2", "--seed", "1", "--output", str(tmp_path)]
    assert sim.main(args) == 0
    before = (tmp_path / "training_data.npy").read_bytes()
    assert sim.main(args[:3] + ["2"] + args[4:]) == 1
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "training_data.npy").read_bytes() == before
    assert sim.main(args[:3] + ["2"] + args[4:] + ["--force"]) == 0
    assert (tmp_path / "training_data.npy").read_bytes() != before


def test_test_name_goes_to_test_folder(tmp_path):
    assert sim.default_folder("test") == paths.TEST_IMAGES
    assert sim.default_folder("training") == paths.TRAIN_IMAGES


def test_png_option_and_report(tmp_path, capsys):
    assert sim.main(["--count", "2", "--output", str(tmp_path), "--png", "--report", "--layout", "banded"]) == 0
    pngs = sorted((tmp_path / "training_png").glob("*.png"))
    assert len(pngs) == 4
    out = capsys.readouterr().out
    assert "threshold labels vs truth" in out and "cluster" in out


def test_bad_count_is_a_one_line_error(tmp_path, capsys):
    assert sim.main(["--count", "0", "--output", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("error:")


def test_impossible_requests_are_one_line_errors(tmp_path, capsys):
    for argv, message in ((["--size", "-5", "5"], "--size"), (["--seed", "-1"], "--seed"),
                          (["--count", "1", "--size", "30000", "30000"], "GiB of memory")):
        assert sim.main(argv + ["--output", str(tmp_path)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not any(tmp_path.iterdir())


def test_same_command_twice_keeps_identical_data_and_refuses_different(tmp_path, capsys):
    argv = ["--count", "2", "--seed", "4", "--size", "32", "32", "--output", str(tmp_path)]
    assert sim.main(argv) == 0
    stamp = (tmp_path / "training_data.npy").stat().st_mtime_ns
    assert sim.main(argv) == 0 and "unchanged" in capsys.readouterr().out
    assert (tmp_path / "training_data.npy").stat().st_mtime_ns == stamp
    assert sim.main(argv[:3] + ["5"] + argv[4:]) == 1
    assert "use --force" in capsys.readouterr().err
