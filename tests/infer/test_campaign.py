"""A campaign's frames on Dask workers (ccdseg/infer/campaign.py): each worker loads the model once.

The run on two local Dask workers, through `load_model.py --fits --workers 2`, is in tests/scripts/test_load_model.py.
"""
import numpy as np
import pytest
from astropy.io import fits

from ccdseg.infer import campaign
from ccdseg.infer.fits_run import run_frame
from ccdseg.infer.segmenter import Segmenter
from tests.simulated_frames import simulated


@pytest.fixture
def no_worker_models(monkeypatch):
    monkeypatch.setattr(campaign, "_SEGMENTERS", {})


def test_a_worker_loads_each_model_once(tiny_model_path, no_worker_models):
    first = campaign.worker_segmenter(str(tiny_model_path), "float32", "keras")
    assert isinstance(first, Segmenter) and first.runtime == "keras" and first.precision == "float32"
    assert campaign.worker_segmenter(str(tiny_model_path), "float32", "keras") is first
    assert campaign.worker_segmenter(str(tiny_model_path), "bfloat16", "keras") is not first
    assert len(campaign._SEGMENTERS) == 2


def test_a_frame_on_a_worker_gives_what_it_gives_in_one_process(tmp_path, tiny_model_path, no_worker_models):
    fits.PrimaryHDU(simulated((64, 96), seed=5)).writeto(tmp_path / "f.fits")
    options = {"progress": False}
    on_worker = campaign.segment_on_worker(str(tiny_model_path), "float32", "keras", str(tmp_path / "f.fits"), None,
                                           str(tmp_path / "worker"), options)
    alone = run_frame(Segmenter.load(tiny_model_path), tmp_path / "f.fits", None, tmp_path / "alone", options)
    assert on_worker["summary"] == alone["summary"].replace(str(tmp_path / "alone"), str(tmp_path / "worker"))
    assert np.array_equal(fits.getdata(tmp_path / "worker" / "f_segmentation.fits"),
                          fits.getdata(tmp_path / "alone" / "f_segmentation.fits"))
    failed = campaign.segment_on_worker(str(tiny_model_path), "float32", "keras", str(tmp_path / "absent.fits"), None,
                                        str(tmp_path / "worker"), options)
    assert "absent.fits" in failed["error"]
