"""load_model.py: the shipped model, prediction and evaluation of .npy and PNG frames, FITS files and folders.

Every option and user mistake is checked through `main`; the same run on two Dask workers; the shipped
`Models/default.keras` against its quality bar.
"""
import numpy as np
import pytest
from astropy.io import fits

import load_model as M
from ccdseg.core import paths, scoring
from ccdseg.core.classes import BACKGROUND
from ccdseg.evaluate.finders import hysteresis_labels, photutils_labels
from ccdseg.evaluate.injection import injection_efficiency
from ccdseg.infer.segmenter import Segmenter
from ccdseg.io.catalogue import read_catalogue_fits
from ccdseg.simulate.datasets import simulate_dataset
from ccdseg.simulate.populations import simulate_population
from tests.fits_files import BAD_KINDS, write_bad_file
from tests.simulated_frames import simulated

QUALITY_BAR = {"cluster": 0.85, "hot pixel": 0.98, "glowing": 0.99, "background": 0.99}
HYSTERESIS = {"seed_sigma": 4.5, "grow_sigma": 1.5}  # as tuned on validation frames by benchmark.py
PHOTUTILS = {"fwhm_px": 1.5, "threshold_sigma": 2.5}


# %% Command line
def run(capsys, *argv):
    code = M.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, [line for line in err.splitlines() if line.startswith("error:")]


def test_fits_command_line_writes_class_map_overview_and_sections(tmp_path, tiny_model_path, capsys):
    image = simulated((300, 700))
    image[5:9, 10:20] = np.nan
    hdu = fits.PrimaryHDU(image)
    hdu.header["OBSERVER"] = "DAMIC"
    hdu.writeto(tmp_path / "run1.fits")
    out = tmp_path / "out"
    code, stdout, errors = run(capsys, "--fits", tmp_path / "run1.fits", "--model", tiny_model_path, "--output", out,
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
    again = ["--fits", tmp_path / "run1.fits", "--model", tiny_model_path, "--output", out, "--find", "cluster",
             "--tile", 256]
    code, stdout, errors = run(capsys, *again)
    assert code == 0 and errors == [] and "skipped" in stdout
    assert (out / "run1_segmentation.fits").stat().st_mtime_ns == written
    (out / "run1_clusters.fits").unlink()  # an interrupted run: the frame is done again
    code, stdout, _ = run(capsys, *again)
    assert code == 0 and "skipped" not in stdout and (out / "run1_clusters.fits").is_file()
    assert run(capsys, "--fits", tmp_path / "run1.fits", "--model", tiny_model_path, "--output", out, "--force")[0] == 0
    code, _, errors = run(capsys, "--fits", out, "--model", tiny_model_path, "--output", out)
    assert code == 1 and len(errors) == 1 and "no FITS file" in errors[0]


def test_folder_skips_bad_frames_and_reports_each_in_one_line(tmp_path, tiny_model_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    fits.PrimaryHDU(np.round(simulated((200, 260))).astype(np.uint16)).writeto(folder / "a_good.fits")
    bad = [write_bad_file(folder, kind) for kind in BAD_KINDS if kind not in ("missing", "folder")]
    out = tmp_path / "out"
    code, _, errors = run(capsys, "--fits", folder, "--model", tiny_model_path, "--output", out)
    assert code == 1
    assert len(errors) == len(bad)
    for path in bad:
        assert sum(line.startswith(f"error: {path}: ") for line in errors) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a_good_clusters.fits", "a_good_overview.png", "a_good_segmentation.fits",
                                                     "clusters.fits", "clusters.root", "clusters_summary.png",
                                                     "run_report.txt"]
    assert fits.getdata(out / "a_good_segmentation.fits").shape == (200, 260)


def test_cube_planes_each_or_one(tmp_path, tiny_model_path, capsys):
    cube = np.stack([simulated((64, 96), seed) for seed in range(3)])
    fits.PrimaryHDU(cube).writeto(tmp_path / "cube.fits")
    out = tmp_path / "out"
    assert run(capsys, "--fits", tmp_path / "cube.fits", "--model", tiny_model_path, "--output", out)[0] == 0
    assert [p.name for p in out.glob("*_segmentation.fits")] == ["cube_segmentation.fits"]
    assert fits.getdata(out / "cube_segmentation.fits").shape == (3, 64, 96)
    assert sorted(p.name for p in out.glob("*_overview.png")) == [f"cube_plane{k}_overview.png" for k in range(3)]
    run_catalogue, frames = read_catalogue_fits(out / "clusters.fits", with_frames=True)
    assert set(run_catalogue["frame"]) <= {f"cube_plane{k}" for k in range(3)}
    assert frames["frame"].tolist() == [f"cube_plane{k}" for k in range(3)] and frames["plane"].tolist() == [0, 1, 2]
    code, _, errors = run(capsys, "--fits", tmp_path / "cube.fits", "--hdu", "PRIMARY", "--plane", 1,
                          "--model", tiny_model_path, "--output", tmp_path / "one")
    assert code == 0 and sorted(p.name for p in (tmp_path / "one").glob("*_segmentation.fits")) == [
        "cube_PRIMARY_plane1_segmentation.fits"]
    assert fits.getdata(tmp_path / "one" / "cube_PRIMARY_plane1_segmentation.fits").shape == (64, 96)


@pytest.mark.parametrize("argv", [["--fits", "missing.fits"], ["--fits", "{tmp}", "--find", "dragon"], []])
def test_command_line_user_errors_are_one_line(tmp_path, tiny_model_path, capsys, argv):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, errors = run(capsys, *argv, "--model", tiny_model_path, "--output", tmp_path / "out")
    assert code == 1 and len(errors) == 1


# %% Bad inputs on every path (one error line, nothing half-written, nothing overwritten)
def test_outputs_of_two_inputs_never_share_a_name(tmp_path, tiny_model_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("run1.fits", "run1.fits.gz", "run1.fit"):
        fits.PrimaryHDU(simulated((64, 64))).writeto(folder / name)
    out = tmp_path / "out"
    code, _, errors = run(capsys, "--fits", folder, "--model", tiny_model_path, "--output", out, "--force")
    assert code == 1 and len(errors) == 1 and "run1.fit, run1.fits, run1.fits.gz" in errors[0]
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("values", [np.full((2, 64, 64), 259, np.int32), np.full((2, 64, 64), 2.7),
                                    np.full((2, 64, 64), 7), np.full((2, 64, 64), -1), np.zeros((2, 32, 64), np.uint8)])
def test_truth_is_checked_before_scoring(tmp_path, tiny_model_path, capsys, values):
    np.save(tmp_path / "frames.npy", np.stack([simulated((64, 64)), simulated((64, 64), 2)]))
    np.save(tmp_path / "truth.npy", values)
    code, _, errors = run(capsys, "--data", tmp_path / "frames.npy", "--truth", tmp_path / "truth.npy",
                          "--model", tiny_model_path, "--output", tmp_path / "out")
    assert code == 1 and len(errors) == 1 and "truth.npy" in errors[0]
    assert not (tmp_path / "out" / "prediction_report.txt").exists()


@pytest.mark.parametrize("frames, message", [(np.zeros((2, 4, 4)), "too small"),
                                             (np.full((1, 32, 32), np.nan), "NaN"),
                                             (np.zeros((1, 32, 32), np.complex64), "not real")])
def test_data_follows_the_same_frame_rules_as_fits(tmp_path, tiny_model_path, capsys, frames, message):
    np.save(tmp_path / "frames.npy", frames)
    code, _, errors = run(capsys, "--data", tmp_path / "frames.npy", "--model", tiny_model_path,
                          "--output", tmp_path / "out")
    assert code == 1 and len(errors) == 1 and message in errors[0]


@pytest.mark.parametrize("option, value", [("--figures", -1), ("--tile", 0), ("--margin", -3), ("--batch-size", 0)])
def test_bad_numbers_are_refused_by_name(tmp_path, tiny_model_path, capsys, option, value):
    np.save(tmp_path / "frames.npy", simulated((64, 64))[None])
    code, _, errors = run(capsys, "--data", tmp_path / "frames.npy", "--model", tiny_model_path,
                          "--output", tmp_path / "out", option, value)
    assert code == 1 and len(errors) == 1 and errors[0].startswith(f"error: {option} must be")


def test_output_that_is_a_file_is_refused_before_any_work(tmp_path, tiny_model_path, capsys):
    np.save(tmp_path / "frames.npy", simulated((64, 64))[None])
    (tmp_path / "taken").write_text("keep me")
    code, stdout, errors = run(capsys, "--data", tmp_path / "frames.npy", "--model", tiny_model_path,
                               "--output", tmp_path / "taken")
    assert code == 1 and len(errors) == 1 and "not a folder" in errors[0] and "model:" not in stdout
    assert (tmp_path / "taken").read_text() == "keep me"


def test_non_ascii_names_hidden_files_links_and_folders(tmp_path, tiny_model_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    fits.PrimaryHDU(simulated((64, 64))).writeto(folder / "é.fits")
    fits.PrimaryHDU(simulated((64, 64))).writeto(folder / ".run0_segmentation.partial.fits")
    (folder / "sub.fits").mkdir()
    (folder / "gone.fits").symlink_to(folder / "nowhere.fits")
    out = tmp_path / "out"
    code = M.main(["--fits", str(folder), "--model", str(tiny_model_path), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err, err[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["clusters.fits", "clusters.root", "clusters_summary.png",
                                                     "run_report.txt", "é_clusters.fits", "é_overview.png",
                                                     "é_segmentation.fits"]
    assert fits.getheader(out / "é_segmentation.fits")["SEGSRC"] == "\\xe9.fits"
    note = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and all(k in note[0] for k in (".run0_segmentation.partial.fits (hidden)",
                                                          "sub.fits (a folder)", "gone.fits (a broken link"))


def test_help_explains_the_automatic_precision(capsys):
    with pytest.raises(SystemExit):
        M.main(["--help"])
    assert "else float32 (default: auto)" in " ".join(capsys.readouterr().out.split())


def test_load_trained_model_gives_a_segmenter_with_its_card(tiny_model_path):
    segmenter = M.load_trained_model(tiny_model_path)
    assert isinstance(segmenter, Segmenter) and segmenter.card["depth"] == 2 and segmenter.path == tiny_model_path
    assert M.describe_model(segmenter) == f"model: {tiny_model_path} (m, float32, keras)"


# %% A campaign on several processes (infer/campaign.py, Dask)
def test_folder_on_two_dask_workers_resumes_and_reports_the_bad_frame(tmp_path, tiny_model_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(3):
        fits.PrimaryHDU(simulated((96, 128), seed=10 + k)).writeto(folder / f"f{k}.fits")
    bad = write_bad_file(folder, "truncated")
    out = tmp_path / "out"
    argv = ["--fits", str(folder), "--model", str(tiny_model_path), "--output", str(out), "--workers", "2"]
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


# %% The shipped model (Models/default.keras) against its quality bar
@pytest.fixture(scope="module")
def shipped():
    return M.load_trained_model()


@pytest.mark.parametrize("layout, seed", [("mixed", 900), ("banded", 901)])
def test_shipped_model_meets_the_quality_bar(shipped, layout, seed):
    images, truth = simulate_dataset(16, seed, layout=layout, progress=False)
    scores = scoring.score_labels(shipped.classes(images), truth)
    for name, floor in QUALITY_BAR.items():
        assert scores[name]["f1"] >= floor, (layout, name, scores[name])
    rule = scoring.score_labels(hysteresis_labels(images, **HYSTERESIS), truth)
    assert scores["cluster"]["f1"] >= rule["cluster"]["f1"] + 0.02


def test_shipped_model_finds_faint_injected_deposits(shipped):
    result = injection_efficiency(shipped.classes, charges_adu=(300, 500, 800), frames_per_charge=2, blank_count=4,
                                  seed=77)
    efficiency = dict(zip(result["charges_adu"], result["efficiency"]))
    assert efficiency[300] >= 0.55 and efficiency[500] >= 0.9 and efficiency[800] >= 0.97, efficiency
    assert result["fakes_per_frame"] <= 0.5


def test_shipped_model_beats_photutils_on_a_held_out_cluster_population(shipped):
    images, truth, _ = simulate_population("other-clusters", 8, 902)
    model = scoring.score_labels(shipped.classes(images), truth)["cluster"]["f1"]
    photutils = scoring.score_labels(photutils_labels(images, **PHOTUTILS), truth)["cluster"]["f1"]
    assert model > photutils


def test_shipped_model_is_small_and_has_its_card(shipped):
    assert paths.DEFAULT_MODEL.stat().st_size < 15 * 2**20
    assert shipped.card["normalisation"]["method"] == "robust-asinh"
    assert shipped.card["normalisation"]["matched_sigmas_px"] and shipped.card["decision"]["matched_threshold"]
    assert shipped.card["test"]["scores"]["cluster"]["f1"] > 0.85


def test_predict_classes_keeps_any_frame_shape(shipped):
    frame = np.random.default_rng(0).normal(8800, 19, (37, 101)).astype(np.float32)
    assert shipped.classes(frame).shape == (37, 101)
    assert shipped.classes(np.stack([frame, frame])).shape == (2, 37, 101)


def test_data_stacks_get_the_model_of_their_kind_frame_by_frame(tmp_path, monkeypatch, capsys):
    import json

    from ccdseg.model.card import card_path
    from ccdseg.model.unet import unet
    from ccdseg.simulate.detector import DAMIC_M
    from ccdseg.simulate.frame import simulate_frame
    from ccdseg.simulate.skipper import simulate_skipper_frame

    for name in ("default", "skipper"):
        unet(depth=2, base_filters=4, dropout=0.0, reg=0.0, optimizer="adam").save(tmp_path / f"{name}.keras")
        card_path(tmp_path / f"{name}.keras").write_text(json.dumps({"depth": 2, "name": name}))
    monkeypatch.setattr(paths, "DEFAULT_MODEL", tmp_path / "default.keras")
    frames = np.stack([simulate_frame(np.random.default_rng(0), None, "mixed", (128, 256)).image,
                       simulate_skipper_frame(np.random.default_rng(1), DAMIC_M, (128, 256)).image]).astype(np.float32)
    np.save(tmp_path / "frames.npy", frames)
    assert M.main(["--data", str(tmp_path / "frames.npy"), "--output", str(tmp_path / "out"), "--figures", "0"]) == 0
    report = (tmp_path / "out" / "prediction_report.txt").read_text()
    assert "default.keras (default" in report and "skipper.keras (skipper" in report
    assert "1 of 2 frames (single electrons not resolved" in report and "1 of 2 frames (single electrons resolved" in report
