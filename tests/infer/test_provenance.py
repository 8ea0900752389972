"""What outputs record and what a resumed run compares (ccdseg/infer/provenance.py): content, models, options, PNGs."""
import os

import pytest
from astropy.io import fits

from ccdseg.infer import fits_run, provenance
from ccdseg.infer.run_plan import plan_run
from ccdseg.infer.segmenter import Segmenter
from tests.simulated_frames import simulated


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return Segmenter.load(tiny_model_path)


def segmented_once(tmp_path, model, **options):
    """A file segmented into tmp_path/out; return (its job, the output folder, the run's record)."""
    if not (tmp_path / "f.fits").exists():
        fits.PrimaryHDU(simulated((64, 96), seed=2)).writeto(tmp_path / "f.fits")
    job = plan_run(tmp_path / "f.fits", **options).files[0]
    record = provenance.run_record({"ccd": model}, options)
    next(fits_run.run_files(fits_run.as_choice(model), [job], tmp_path / "out", dict(options, record=record,
                                                                                      progress=False)))
    return job, tmp_path / "out", record


def test_outputs_of_the_same_input_model_and_options_are_done(tmp_path, model):
    job, out, record = segmented_once(tmp_path, model)
    assert provenance.file_status(job, out, record) == ("done", "")
    assert fits.getheader(out / "f_segmentation.fits")["SEGKEY"] == provenance.record_key(record)
    assert provenance.file_status(job, tmp_path / "elsewhere", record) == ("new", "")


def test_other_input_content_is_stale(tmp_path, model):
    job, out, record = segmented_once(tmp_path, model)
    fits.PrimaryHDU(simulated((64, 96), seed=3)).writeto(tmp_path / "f.fits", overwrite=True)
    status, why = provenance.file_status(job, out, record)
    assert status == "stale" and "other content of the input" in why
    os.utime(tmp_path / "f.fits", ns=(0, 0))
    assert provenance.file_status(job, out, record)[0] == "stale"


@pytest.mark.parametrize("change, said", [({"region": "[1:64,1:64]"}, "--region None -> [1:64,1:64]"),
                                          ({"find": "cluster"}, "--find None -> cluster"),
                                          ({"max_adu": 9000.0}, "--max-adu None -> 9000.0")])
def test_other_options_are_stale_and_say_which(tmp_path, model, change, said):
    job, out, _ = segmented_once(tmp_path, model)
    status, why = provenance.file_status(job, out, provenance.run_record({"ccd": model}, change))
    assert status == "stale" and said in why


def test_another_model_or_precision_is_stale(tmp_path, model, tiny_model_path):
    job, out, record = segmented_once(tmp_path, model)
    other = dict(record, precision={"ccd": "bfloat16"})
    assert "another model or precision" in provenance.file_status(job, out, other)[1]
    (tmp_path / "m2.keras").write_bytes(tiny_model_path.read_bytes() + b"changed")
    assert provenance.model_identity(tmp_path / "m2.keras").split()[1] != provenance.model_identity(
        tiny_model_path).split()[1]


@pytest.mark.parametrize("damage", ["empty overview", "half overview", "no catalogue", "truncated catalogue"])
def test_missing_or_broken_outputs_of_this_run_are_redone(tmp_path, model, damage):
    job, out, record = segmented_once(tmp_path, model)
    overview, catalogue = out / "f_overview.png", out / "f_clusters.fits"
    if damage == "empty overview":
        overview.write_bytes(b"")
    elif damage == "half overview":
        overview.write_bytes(overview.read_bytes()[:200])
    elif damage == "no catalogue":
        catalogue.unlink()
    else:
        catalogue.write_bytes(catalogue.read_bytes()[:4000])
    assert provenance.file_status(job, out, record)[0] == "redone"
