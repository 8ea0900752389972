"""FITS files segmented to files (ccdseg/infer/fits_run.py): frames one ahead, HDUs, models, gains, bad pixels."""
import numpy as np
import pytest
from astropy.io import fits

from ccdseg.infer import fits_run, provenance, runtime, tiling
from ccdseg.infer.model_choice import ModelChoice
from ccdseg.infer.run_plan import plan_run
from ccdseg.infer.segmenter import Segmenter
from ccdseg.io.catalogue import read_catalogue_fits
from tests.amplifier_files import write_amplifier_file
from tests.fits_files import write_bad_file
from tests.simulated_frames import simulated


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return Segmenter.load(tiny_model_path)


def segment_frame(choice, job, frame_job, options):
    return fits_run.segment_prepared_frame(fits_run.prepare_frame(choice, job, frame_job, options), options)


def options_of(choice, **options):
    options = dict({"progress": False}, **options)
    return dict(options, record=provenance.run_record(fits_run.as_choice(choice).models, options))


def test_files_three_steps_at_once_give_each_file_what_it_gives_alone_in_order(tmp_path, model):
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(3):
        fits.PrimaryHDU(simulated((96, 128), seed=20 + k)).writeto(folder / f"f{k}.fits")
    write_amplifier_file(folder / "g.fits", shape=(64, 64), names=("A", "B"))
    jobs = plan_run(folder).files
    choice, options = fits_run.as_choice(model), options_of(model)
    alone = [next(fits_run.run_files(choice, [job], tmp_path / "alone", options)) for job in jobs]
    ahead = list(fits_run.run_files(choice, jobs, tmp_path / "ahead", options))
    assert [r["file"] for r in ahead] == [str(job.path) for job in jobs]
    assert [r["segmented"] for r in ahead] == [1, 1, 1, 2]
    for one, other, job in zip(alone, ahead, jobs):
        moved = [line.replace(str(tmp_path / "alone"), str(tmp_path / "ahead")) for line in one["summaries"]]
        assert other["summaries"] == moved
        name = job.segmentation_name
        with fits.open(tmp_path / "alone" / name) as a, fits.open(tmp_path / "ahead" / name) as b:
            assert [h.name for h in a] == [h.name for h in b]
            assert all(np.array_equal(x.data, y.data) for x, y in zip(a, b) if x.data is not None)
        one_cat, other_cat = (read_catalogue_fits(tmp_path / run / job.clusters_name) for run in ("alone", "ahead"))
        for name, values in one_cat.items():
            assert np.array_equal(values, other_cat[name], equal_nan=values.dtype.kind == "f"), name


def test_a_broken_file_is_one_error_in_its_place(tmp_path, model):
    bad = write_bad_file(tmp_path, "truncated")
    jobs = plan_run(tmp_path).files
    assert jobs == [] and len(plan_run(tmp_path).errors) == 1 and str(bad) in plan_run(tmp_path).errors[0]


def test_a_segmented_frame_records_the_tiles_as_they_are_when_it_runs(tmp_path, model, monkeypatch):
    fits.PrimaryHDU(simulated((80, 100), seed=3)).writeto(tmp_path / "f.fits")
    monkeypatch.setattr(tiling, "TILE_SIZE_PX", 64)
    monkeypatch.setattr(tiling, "MARGIN_PX", 8)
    job = plan_run(tmp_path / "f.fits").files[0]
    segmented = segment_frame(fits_run.as_choice(model), job, job.frames[0], {"progress": False})
    assert segmented.notes["SEGTILE"][0] == 64 and segmented.notes["SEGMARG"][0] == 8
    assert np.array_equal(segmented.classes, model.segment(segmented.frame.data, tile_px=64, margin_px=8))
    assert segmented.notes["SEGMODEL"][0] == "m.keras" and segmented.notes["SEGWHY"][0] == "the model given"


# %% Values no ADC gives never change their neighbours (issue 20, defect 9)
def test_an_impossible_pixel_is_masked_like_nan_and_its_neighbours_keep_their_classes(tmp_path, model):
    image = simulated((128, 128), seed=4)
    impossible, missing = image.copy(), image.copy()
    impossible[60, 70], missing[60, 70] = 1e30, np.nan
    fits.PrimaryHDU(impossible).writeto(tmp_path / "impossible.fits")
    fits.PrimaryHDU(missing).writeto(tmp_path / "missing.fits")
    choice, options = fits_run.as_choice(model), options_of(model)
    results = list(fits_run.run_files(choice, plan_run(tmp_path).files, tmp_path / "out", options))
    assert "1 masked px (NaN/inf/BLANK, 1 beyond the ADC range" in results[0]["summaries"][0]
    maps = [fits.getdata(tmp_path / "out" / f"{name}_segmentation.fits") for name in ("impossible", "missing")]
    assert np.array_equal(maps[0], maps[1]) and maps[0][60, 70] == 0
    assert fits.getheader(tmp_path / "out" / "impossible_segmentation.fits")["SEGNBAD"] == 1
    catalogues = [read_catalogue_fits(tmp_path / "out" / f"{name}_clusters.fits") for name in ("impossible", "missing")]
    assert np.array_equal(catalogues[0]["charge_adu"], catalogues[1]["charge_adu"])


def test_with_the_shipped_model_an_impossible_pixel_changes_no_other_pixel(tmp_path):
    image = simulated((128, 128), seed=4)
    shipped = fits_run.as_choice(Segmenter.load())
    for value in (1e30, 7e4):
        bad = image.copy()
        bad[60, 70] = value
        hdu = fits.PrimaryHDU(bad)
        hdu.header["SATURATE"] = 65535.0
        hdu.writeto(tmp_path / "bad.fits", overwrite=True)
        job = plan_run(tmp_path / "bad.fits").files[0]
        classes = segment_frame(shipped, job, job.frames[0], {"progress": False}).classes
        alone = shipped.default.segment(image)
        alone[60, 70] = 0
        assert np.array_equal(classes, alone), value


# %% The precision that ran (issue 20, defect 10)
def test_bfloat16_asked_of_a_cpu_without_it_is_recorded_as_the_float32_that_ran(tmp_path, model, monkeypatch):
    if not runtime.openvino_installed():
        pytest.skip("OpenVINO is not installed")
    monkeypatch.setattr(runtime, "native_bfloat16", lambda: False)
    fast = model.with_runtime("openvino").with_precision("bfloat16")
    assert fast.precision == "bfloat16" and provenance.ran_precision(fast) == "float32"
    fits.PrimaryHDU(simulated((64, 64))).writeto(tmp_path / "f.fits")
    job = plan_run(tmp_path / "f.fits").files[0]
    segmented = segment_frame(fits_run.as_choice(fast), job, job.frames[0], {"progress": False})
    assert segmented.notes["SEGPREC"][0] == "float32"
    monkeypatch.setattr(runtime, "native_bfloat16", lambda: True)
    assert provenance.ran_precision(fast) == "bfloat16"


# %% The gain of each frame, and the background of each row (issue 19, item 5)
def test_the_gain_comes_from_the_option_then_the_hdu_keyword_then_the_calibration(tmp_path, model):
    write_amplifier_file(tmp_path / "amps.fits", names=("CCD_A", "CCD_B"), cards={"CCD_B": {"GAIN": 2.5}})
    job = plan_run(tmp_path / "amps.fits").files[0]
    frames = [segment_frame(fits_run.as_choice(model), job, frame_job, {"progress": False})
              for frame_job in job.frames]
    assert fits_run.frame_gain(frames[1].frame, None, 1.1) == (2.5, "header GAIN")
    assert fits_run.frame_gain(frames[1].frame, 3.0, 1.1) == (3.0, "--gain")
    assert fits_run.frame_gain(frames[0].frame, None, 1.1) == (1.1, "the frame's calibration")
    assert fits_run.frame_gain(frames[0].frame, None, None) == (None, "unknown")
    catalogue, row, told = fits_run.frame_catalogue(frames[1], None)
    assert row["gain"] == 2.5 and told.startswith("gain 2.5 ADU/e (header GAIN)") and row["hdu"] == "CCD_B"
    assert len(catalogue["cluster_id"]) and np.allclose(catalogue["charge_electrons"], catalogue["charge_adu"] / 2.5)
    assert set(catalogue["hdu"]) == {"CCD_B"} and np.isfinite(catalogue["energy_kev"]).all()
    assert np.isnan(fits_run.frame_catalogue(frames[0], None)[0]["energy_kev"]).all()


def test_each_frame_is_segmented_by_the_model_of_its_kind(tmp_path, tiny_model_path):
    write_amplifier_file(tmp_path / "amps.fits", names=("CCD_A", "CCD_B"))
    first, second = Segmenter.load(tiny_model_path), Segmenter.load(tiny_model_path)
    choice = ModelChoice({"ccd": first, "skipper": second})
    chosen = iter([(first, "a CCD frame"), (second, "a skipper frame")])
    choice.for_frame = lambda frame, siblings=None: next(chosen)
    job = plan_run(tmp_path / "amps.fits").files[0]
    result = next(fits_run.run_files(choice, [job], tmp_path / "out", options_of(choice)))
    assert "(a CCD frame)" in result["summaries"][0] and "(a skipper frame)" in result["summaries"][1]
    with fits.open(tmp_path / "out" / "amps_segmentation.fits") as written:
        assert [h.header.get("SEGWHY") for h in written[1:]] == ["a CCD frame", "a skipper frame"]


def test_a_frame_whose_comb_is_hidden_is_a_skipper_frame_when_most_of_its_file_is(tmp_path):
    """Seed 9301 frame 11 (0.001 e/px, 0.28 e of noise): its one-electron peak hides in the zero peak's tail, and the
    2020 model gave it 540 to 690 fake clusters. Read with three skipper amplifiers, it is one readout with them."""
    from dataclasses import replace

    from ccdseg.evaluate.skipper_targets import skipper_test_frames
    from ccdseg.infer.model_choice import resolved
    from ccdseg.io.fits import read_fits_frame, write_image_extensions
    from ccdseg.simulate.detector import random_detector

    frames = skipper_test_frames(12, 9301, detector=lambda rng: replace(random_detector(rng),
                                                                         dark_current_electrons_per_pixel=0.001))
    names = ("CCD_A", "CCD_B", "CCD_D", "CCD_C")
    four, two = tmp_path / "four.fits", tmp_path / "two.fits"  # uncompressed: the frames as simulated
    write_image_extensions(four, [(n, f.image, {}) for n, f in zip(names, [frames[0], frames[1], frames[2], frames[11]])],
                           {}, compress=False)
    write_image_extensions(two, [(n, f.image, {}) for n, f in zip(names, [frames[0], frames[11]])], {}, compress=False)
    assert [resolved(read_fits_frame(four, name).data) for name in names] == [True, True, True, False]
    choice = ModelChoice.load()
    assert fits_run.segment_fits(choice, tmp_path, tmp_path / "out", progress=False) == 0
    with fits.open(tmp_path / "out" / "four_segmentation.fits") as written:
        whys = [h.header["SEGWHY"] for h in written[1:]]
    assert all("single electrons resolved" in why for why in whys[:3])
    assert whys[3] == "not resolved here, but in 3 of the file's 4 frames: a skipper frame"
    clusters = read_catalogue_fits(tmp_path / "out" / "four_clusters.fits")
    assert np.count_nonzero(clusters["hdu"] == "CCD_C") <= len(frames[11].deposit_kinds) + 5
    with fits.open(tmp_path / "out" / "two_segmentation.fits") as written:  # one of two is no majority
        assert [h.header["SEGWHY"] for h in written[1:]][1] == "single electrons not resolved: a CCD frame"
