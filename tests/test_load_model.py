"""Tiled segmentation of frames of any size and the FITS command line (load_model.py)."""
import json

import numpy as np
import pytest
from astropy.io import fits

import load_model as M
import models
from ccdseg.simulate.frame import simulate_frame
from ccdseg.simulate.datasets import simulate_dataset
from ccdseg.core.classes import BACKGROUND
from ccdseg.core.errors import UserInputError
from ccdseg.model import normalisation
from ccdseg.model import unet
from ccdseg.core import paths
from ccdseg.infer import tiling
from ccdseg.model.card import card_path
from ccdseg.model.predict import predict_normalised


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A tiny U-Net (depth 2), fitted one epoch on a few simulated 64 x 64 frames, saved with its card."""
    images, truth = simulate_dataset(8, 0, size=(64, 64), progress=False)
    model = unet.unet(depth=2, base_filters=4, dropout=0.0, reg=0.0, optimizer="adam")
    model.fit(normalisation.normalise_frames(images), np.eye(4, dtype=np.float32)[truth], epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("model") / "m.keras"
    model.save(path)
    card_path(path).write_text(json.dumps({"depth": 2}))
    return path


@pytest.fixture(scope="module")
def model(model_path):
    return M.load_trained_model(model_path)


def simulated(shape, seed=1):
    return simulate_frame(np.random.default_rng(seed), None, "mixed", shape).image


# %% Python API
def test_tiled_prediction_agrees_with_the_whole_frame(model):
    image = simulated((1000, 1500))
    whole = np.argmax(predict_normalised(model.model, normalisation.normalise_frames(image)[None], model.multiple)[0], axis=-1)
    tiled = model.segment(image, tile_px=256, margin_px=32, batch_size=4)
    assert tiled.shape == image.shape and tiled.dtype == np.uint8
    assert len(np.unique(whole)) > 1
    assert np.mean(tiled == whole) >= 0.999


def test_predict_classes_tiles_big_frames_and_masks_nan(model):
    image = simulated((tiling.TILE_SIZE_PX + 40, 96))
    image[5, 7] = np.nan
    classes = model.classes(image)
    assert classes.shape == image.shape and classes[5, 7] == BACKGROUND
    assert np.array_equal(classes, model.segment(image))
    small = simulated((64, 80))[None].repeat(2, axis=0)
    small[1, 3, 3] = np.inf
    small_classes = model.classes(small)
    assert small_classes.shape == (2, 64, 80) and small_classes[1, 3, 3] == BACKGROUND


def test_segment_frame_smaller_than_a_tile_and_refuses_all_nan(model):
    assert model.segment(simulated((20, 37))).shape == (20, 37)
    with pytest.raises(UserInputError, match="NaN"):
        model.segment(np.full((30, 30), np.nan, np.float32))


def test_bfloat16_copy_gives_nearly_the_same_classes(model):
    image = simulated((200, 300))
    fast = model.with_precision("bfloat16")
    assert model.with_precision("float32") is model and fast.card["precision"] == "bfloat16"
    assert np.mean(fast.segment(image) == model.segment(image)) > 0.98
    with pytest.raises(UserInputError, match="precision"):
        model.with_precision("int8")


# %% Command line
def run(capsys, *argv):
    code = M.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, [line for line in err.splitlines() if line.startswith("error:")]


def test_fits_command_line_writes_class_map_overview_and_sections(tmp_path, model_path, capsys):
    image = simulated((300, 700))
    image[5:9, 10:20] = np.nan
    hdu = fits.PrimaryHDU(image)
    hdu.header["OBSERVER"] = "DAMIC"
    hdu.writeto(tmp_path / "run1.fits")
    out = tmp_path / "out"
    code, stdout, errors = run(capsys, "--fits", tmp_path / "run1.fits", "--model", model_path, "--output", out,
                               "--find", "cluster", "--tile", 256)
    assert code == 0 and errors == [] and "40 masked px" in stdout
    with fits.open(out / "run1_segmentation.fits") as written:
        class_map, header = written[0].data, written[0].header
    assert class_map.shape == (300, 700) and class_map.dtype == np.uint8 and class_map.max() <= 3
    assert (class_map[5:9, 10:20] == BACKGROUND).all()
    assert header["OBSERVER"] == "DAMIC" and header["CLASS3"] == "cluster" and header["SEGNMASK"] == 40
    assert (out / "run1_overview.png").stat().st_size > 0
    assert (out / "run1_cluster_sections.txt").read_text().startswith(f"{len(list(out.glob('run1_cluster_r*.png')))} ")
    written = (out / "run1_segmentation.fits").stat().st_mtime_ns
    code, stdout, errors = run(capsys, "--fits", tmp_path / "run1.fits", "--model", model_path, "--output", out)
    assert code == 0 and errors == [] and "skipped" in stdout
    assert (out / "run1_segmentation.fits").stat().st_mtime_ns == written
    (out / "run1_clusters.fits").unlink()  # an interrupted run: the frame is done again
    code, stdout, _ = run(capsys, "--fits", tmp_path / "run1.fits", "--model", model_path, "--output", out)
    assert code == 0 and "skipped" not in stdout and (out / "run1_clusters.fits").is_file()
    assert run(capsys, "--fits", tmp_path / "run1.fits", "--model", model_path, "--output", out, "--force")[0] == 0
    code, _, errors = run(capsys, "--fits", out, "--model", model_path, "--output", out)
    assert code == 1 and len(errors) == 1 and "no FITS file" in errors[0]


def test_folder_skips_bad_frames_and_reports_each_in_one_line(tmp_path, model_path, capsys):
    from test_fits import BAD_KINDS, write_bad_file

    folder = tmp_path / "frames"
    folder.mkdir()
    fits.PrimaryHDU(np.round(simulated((200, 260))).astype(np.uint16)).writeto(folder / "a_good.fits")
    bad = [write_bad_file(folder, kind) for kind in BAD_KINDS if kind not in ("missing", "folder")]
    out = tmp_path / "out"
    code, _, errors = run(capsys, "--fits", folder, "--model", model_path, "--output", out)
    assert code == 1
    assert len(errors) == len(bad)
    for path in bad:
        assert sum(line.startswith(f"error: {path}: ") for line in errors) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a_good_clusters.fits", "a_good_overview.png", "a_good_segmentation.fits",
                                                     "clusters.fits", "clusters.root", "clusters_summary.png"]
    assert fits.getdata(out / "a_good_segmentation.fits").shape == (200, 260)


def test_cube_planes_each_or_one(tmp_path, model_path, capsys):
    cube = np.stack([simulated((64, 96), seed) for seed in range(3)])
    fits.PrimaryHDU(cube).writeto(tmp_path / "cube.fits")
    out = tmp_path / "out"
    assert run(capsys, "--fits", tmp_path / "cube.fits", "--model", model_path, "--output", out)[0] == 0
    assert sorted(p.name for p in out.glob("*_segmentation.fits")) == [f"cube_plane{k}_segmentation.fits"
                                                                       for k in range(3)]
    from ccdseg.io.catalogue import read_catalogue_fits

    run_catalogue = read_catalogue_fits(out / "clusters.fits")
    assert set(run_catalogue["frame"]) <= {f"cube_plane{k}" for k in range(3)}
    code, _, errors = run(capsys, "--fits", tmp_path / "cube.fits", "--hdu", "PRIMARY", "--plane", 1,
                          "--model", model_path, "--output", tmp_path / "one")
    assert code == 0 and sorted(p.name for p in (tmp_path / "one").glob("*_segmentation.fits")) == [
        "cube_PRIMARY_plane1_segmentation.fits"]


@pytest.mark.parametrize("argv", [["--fits", "missing.fits"], ["--fits", "{tmp}", "--find", "dragon"], []])
def test_command_line_user_errors_are_one_line(tmp_path, model_path, capsys, argv):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, errors = run(capsys, *argv, "--model", model_path, "--output", tmp_path / "out")
    assert code == 1 and len(errors) == 1


# %% Bad inputs on every path (one error line, nothing half-written, nothing overwritten)
def test_outputs_of_two_inputs_never_share_a_name(tmp_path, model_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("run1.fits", "run1.fits.gz", "run1.fit"):
        fits.PrimaryHDU(simulated((64, 64))).writeto(folder / name)
    out = tmp_path / "out"
    code, _, errors = run(capsys, "--fits", folder, "--model", model_path, "--output", out, "--force")
    assert code == 1 and len(errors) == 1 and "run1.fit, run1.fits, run1.fits.gz" in errors[0]
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("values", [np.full((2, 64, 64), 259, np.int32), np.full((2, 64, 64), 2.7),
                                    np.full((2, 64, 64), 7), np.full((2, 64, 64), -1), np.zeros((2, 32, 64), np.uint8)])
def test_truth_is_checked_before_scoring(tmp_path, model_path, capsys, values):
    np.save(tmp_path / "frames.npy", np.stack([simulated((64, 64)), simulated((64, 64), 2)]))
    np.save(tmp_path / "truth.npy", values)
    code, _, errors = run(capsys, "--data", tmp_path / "frames.npy", "--truth", tmp_path / "truth.npy",
                          "--model", model_path, "--output", tmp_path / "out")
    assert code == 1 and len(errors) == 1 and "truth.npy" in errors[0]
    assert not (tmp_path / "out" / "prediction_report.txt").exists()


@pytest.mark.parametrize("frames, message", [(np.zeros((2, 4, 4)), "too small"),
                                             (np.full((1, 32, 32), np.nan), "NaN"),
                                             (np.zeros((1, 32, 32), np.complex64), "not real")])
def test_data_follows_the_same_frame_rules_as_fits(tmp_path, model_path, capsys, frames, message):
    np.save(tmp_path / "frames.npy", frames)
    code, _, errors = run(capsys, "--data", tmp_path / "frames.npy", "--model", model_path,
                          "--output", tmp_path / "out")
    assert code == 1 and len(errors) == 1 and message in errors[0]


@pytest.mark.parametrize("option, value", [("--figures", -1), ("--tile", 0), ("--margin", -3), ("--batch-size", 0)])
def test_bad_numbers_are_refused_by_name(tmp_path, model_path, capsys, option, value):
    np.save(tmp_path / "frames.npy", simulated((64, 64))[None])
    code, _, errors = run(capsys, "--data", tmp_path / "frames.npy", "--model", model_path,
                          "--output", tmp_path / "out", option, value)
    assert code == 1 and len(errors) == 1 and errors[0].startswith(f"error: {option} must be")


def test_output_that_is_a_file_is_refused_before_any_work(tmp_path, model_path, capsys):
    np.save(tmp_path / "frames.npy", simulated((64, 64))[None])
    (tmp_path / "taken").write_text("keep me")
    code, stdout, errors = run(capsys, "--data", tmp_path / "frames.npy", "--model", model_path,
                               "--output", tmp_path / "taken")
    assert code == 1 and len(errors) == 1 and "not a folder" in errors[0] and "model:" not in stdout
    assert (tmp_path / "taken").read_text() == "keep me"


def test_non_ascii_names_hidden_files_links_and_folders(tmp_path, model_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    fits.PrimaryHDU(simulated((64, 64))).writeto(folder / "é.fits")
    fits.PrimaryHDU(simulated((64, 64))).writeto(folder / ".run0_segmentation.partial.fits")
    (folder / "sub.fits").mkdir()
    (folder / "gone.fits").symlink_to(folder / "nowhere.fits")
    out = tmp_path / "out"
    code = M.main(["--fits", str(folder), "--model", str(model_path), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err, err[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["clusters.fits", "clusters.root", "clusters_summary.png",
                                                     "é_clusters.fits", "é_overview.png", "é_segmentation.fits"]
    assert fits.getheader(out / "é_segmentation.fits")["SEGSRC"] == "\\xe9.fits"
    note = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and all(k in note[0] for k in (".run0_segmentation.partial.fits (hidden)",
                                                          "sub.fits (a folder)", "gone.fits (a broken link"))


# %% A campaign on several processes (campaign.py, Dask)
def test_folder_on_two_dask_workers_resumes_and_reports_the_bad_frame(tmp_path, model_path, capsys):
    from ccdseg.io.catalogue import read_catalogue_fits
    from test_fits import write_bad_file

    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(3):
        fits.PrimaryHDU(simulated((96, 128), seed=10 + k)).writeto(folder / f"f{k}.fits")
    bad = write_bad_file(folder, "truncated")
    out = tmp_path / "out"
    argv = ["--fits", str(folder), "--model", str(model_path), "--output", str(out), "--workers", "2"]
    code = M.main(argv)
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1 and str(bad) in errors[0]
    assert sorted(p.name for p in out.glob("*_segmentation.fits")) == [f"f{k}_segmentation.fits" for k in range(3)]
    frames = {str(f) for f in read_catalogue_fits(out / "clusters.fits")["frame"]}
    per_frame = sum(len(read_catalogue_fits(out / f"f{k}_clusters.fits")["cluster_id"]) for k in range(3))
    assert frames <= {"f0", "f1", "f2"} and len(read_catalogue_fits(out / "clusters.fits")["cluster_id"]) == per_frame
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith("f")}
    assert M.main(argv) == 1
    assert capsys.readouterr().out.count("skipped") == 3
    assert all(p.stat().st_mtime_ns == stamps[p.name] for p in out.iterdir() if p.name.startswith("f"))


def test_run_of_frames_one_ahead_gives_each_frame_what_it_gives_alone_in_order(tmp_path, model):
    from ccdseg.infer.fits_run import run_frame, run_frames
    from test_fits import write_bad_file

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
        assert all(np.array_equal(other["catalogue"][k], one["catalogue"][k]) for k in one["catalogue"])
        name = f"{file.stem}_segmentation.fits"
        assert np.array_equal(fits.getdata(tmp_path / "ahead" / name), fits.getdata(tmp_path / "alone" / name))


def test_openvino_runtime_gives_the_keras_class_maps(model):
    pytest.importorskip("openvino")
    image = simulated((300, 420))
    fast = model.with_runtime("openvino")
    assert fast.runtime == "openvino" and model.runtime == "keras"
    assert np.mean(fast.segment(image, tile_px=256) == model.segment(image, tile_px=256)) >= 0.9999
    assert fast.with_runtime("keras").runtime == "keras"
    assert fast.with_precision("bfloat16").runtime == "openvino"
    with pytest.raises(UserInputError, match="runtime"):
        model.with_runtime("tensorrt")


def test_auto_precision_is_bfloat16_only_where_openvino_computes_it_natively(model, capsys):
    import importlib.util

    from ccdseg.infer.runtime import native_bfloat16

    assert model.with_runtime("keras").with_precision("auto").precision == "float32"
    if importlib.util.find_spec("openvino"):
        expected = "bfloat16" if native_bfloat16() else "float32"
        assert model.with_runtime("openvino").with_precision("auto").precision == expected
    with pytest.raises(SystemExit):
        M.main(["--help"])
    assert "else float32 (default: auto)" in " ".join(capsys.readouterr().out.split())
