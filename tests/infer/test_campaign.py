"""A campaign's files on Dask workers (ccdseg/infer/campaign.py): models loaded once, lost workers, stalls, checks.

The run on two local Dask workers, through `load_model.py --fits --workers 2`, is in tests/scripts/test_load_model.py.
"""
import os

import dask
import distributed
import numpy as np
import pytest
from astropy.io import fits

from ccdseg.core.errors import UserInputError
from ccdseg.infer import campaign, fits_run, provenance
from ccdseg.infer.model_choice import ModelChoice
from ccdseg.infer.run_plan import FileJob, plan_run
from ccdseg.infer.segmenter import Segmenter
from tests.simulated_frames import simulated


@pytest.fixture
def no_worker_models(monkeypatch):
    monkeypatch.setattr(campaign, "_CHOICES", {})


def test_a_worker_loads_its_models_once(tiny_model_path, no_worker_models):
    paths = (("ccd", str(tiny_model_path)), ("skipper", str(tiny_model_path)))
    first = campaign.worker_choice(paths, "float32", "keras")
    assert isinstance(first, ModelChoice) and set(first.models) == {"ccd", "skipper"}
    assert first.default.runtime == "keras" and first.default.precision == "float32"
    assert campaign.worker_choice(paths, "float32", "keras") is first
    assert campaign.worker_choice(paths[:1], "float32", "keras") is not first and len(campaign._CHOICES) == 2


def test_a_file_on_a_worker_gives_what_it_gives_in_one_process(tmp_path, tiny_model_path, no_worker_models):
    fits.PrimaryHDU(simulated((64, 96), seed=5)).writeto(tmp_path / "f.fits")
    job = plan_run(tmp_path / "f.fits").files[0]
    model = Segmenter.load(tiny_model_path)
    options = {"progress": False, "record": provenance.run_record({"ccd": model}, {})}
    on_worker = campaign.segment_file_on_worker((("ccd", str(tiny_model_path)),), "float32", "keras", job,
                                                str(tmp_path / "worker"), options)
    alone = next(fits_run.run_files(fits_run.as_choice(model), [job], tmp_path / "alone", options))
    assert on_worker["summaries"] == [s.replace(str(tmp_path / "alone"), str(tmp_path / "worker"))
                                      for s in alone["summaries"]]
    assert np.array_equal(fits.getdata(tmp_path / "worker" / "f_segmentation.fits"),
                          fits.getdata(tmp_path / "alone" / "f_segmentation.fits"))


# %% Faults (issue 20, defects 3 and 7)
def fake_job(tmp_path, name):
    return FileJob(tmp_path / name, name, None, ("one frame",))


def test_a_lost_worker_fails_its_file_in_one_line_and_the_others_go_on(tmp_path):
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                           silence_logs=50)
    with cluster, distributed.Client(cluster) as client:
        lost, kept = fake_job(tmp_path, "lost.fits"), fake_job(tmp_path, "kept.fits")
        killer = client.submit(os._exit, 1, pure=False)
        distributed.wait([killer])  # its worker lost twice: the scheduler gives up on it
        futures = {killer: lost, client.submit(dict, file="kept", pure=False): kept}
        results = {r["file"]: r for r in campaign._wait_for_results(client, futures, "here")}
    assert results["kept"] == {"file": "kept"}
    assert results[str(tmp_path / "lost.fits")]["failed"] == 1 and results[str(tmp_path / "lost.fits")]["errors"] == [
        f"{tmp_path / 'lost.fits'}: not segmented: its Dask worker was lost on every try (killed, e.g. for memory, or"
        " ended); the other files go on"]


def test_when_no_worker_is_left_the_run_stops_after_the_stated_time(tmp_path, monkeypatch):
    class NoWorkers:
        status = "running"

        def scheduler_info(self):
            return {"workers": {}}

    def never(futures, timeout, return_when):
        raise TimeoutError

    monkeypatch.setattr(distributed, "wait", never)
    monkeypatch.setattr(campaign, "NO_WORKER_TIMEOUT_S", 0.3)
    jobs = {object(): fake_job(tmp_path, "a.fits"), object(): fake_job(tmp_path, "b.fits")}
    results = list(campaign._wait_for_results(NoWorkers(), jobs, "tcp://10.0.0.1:8786"))
    assert len(results) == 2 and all(r["errors"][0].endswith(
        "not segmented: no Dask worker on tcp://10.0.0.1:8786 for 0 s: the run stopped") for r in results)


def test_a_scheduler_that_cannot_be_reached_is_one_line(monkeypatch):
    monkeypatch.setattr(campaign, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(UserInputError, match="cannot reach the Dask scheduler tcp://127.0.0.1:9 within 1 s"):
        campaign._start(1, "tcp://127.0.0.1:9")


def test_workers_that_cannot_import_ccdseg_or_see_the_folders_are_refused(tmp_path, monkeypatch):
    class Workers:
        def wait_for_workers(self, n, timeout):
            pass

        def run(self, check):
            return {"tcp://w1:1": answers}

    answers = (True, False, True)
    with pytest.raises(UserInputError, match="tcp://w1:1 of tcp://s:8786 cannot write the output folder"):
        campaign.check_workers(Workers(), tmp_path, tmp_path / "f.fits", "tcp://s:8786")
    answers = (False, True, True)
    with pytest.raises(UserInputError, match=r"cannot import ccdseg: install it on every worker machine \(pip install"):
        campaign.check_workers(Workers(), tmp_path, tmp_path / "f.fits", "tcp://s:8786")
