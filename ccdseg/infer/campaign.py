"""Many frames on many machines: a campaign's FITS frames segmented on a Dask cluster.

    python load_model.py --fits DIR --output OUT --workers 2            # local processes
    python load_model.py --fits DIR --output OUT --scheduler tcp://host:8786   # an existing cluster

Frames are the unit of work. Each worker process loads the model once (the
first frame it gets) and keeps it; every frame's outputs are written by the
worker that segmented it, into the shared output folder, so the workers of
a cluster on several machines need that folder on a shared file system. A
frame that fails is reported and the others go on; the run's catalogue is
assembled from every frame's, as in a run on one process.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from ccdseg.core import paths
from ccdseg.core.errors import UserInputError
from ccdseg.infer.fits_run import run_frame
from ccdseg.infer.segmenter import Segmenter

# %% State of a worker process
_SEGMENTERS: dict[tuple[str, str, str], object] = {}  # per worker process: the model, loaded once


# %% On a worker
def worker_segmenter(model_path: str, precision: str, runtime: str):
    """The `Segmenter` of this worker process, loaded on its first frame and kept."""
    key = (model_path, precision, runtime)
    if key not in _SEGMENTERS:
        _SEGMENTERS[key] = Segmenter.load(model_path).with_runtime(runtime).with_precision(precision)
    return _SEGMENTERS[key]


def segment_on_worker(model_path: str, precision: str, runtime: str, file: str, plane: int | None, output: str,
                      options: dict) -> dict:
    """Segment one frame on a worker (`infer.fits_run.run_frame`): its summary and catalogue, or its error."""
    return run_frame(worker_segmenter(model_path, precision, runtime), Path(file), plane, Path(output), options)


# %% On the client
def segment_on_cluster(
    model_path: str | Path,
    precision: str,
    runtime: str,
    jobs: list[tuple[Path, int | None]],
    output: Path,
    options: dict,
    *,
    workers: int = 2,
    scheduler: str | None = None,
) -> Iterator[dict]:
    """Segment (file, plane) frames on a local Dask cluster of `workers` processes, or on `scheduler`.

    Yields each frame's result as it finishes (`infer.fits_run.run_frame`).
    """
    from dask.distributed import Client, LocalCluster, as_completed

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.REPO), os.environ.get("PYTHONPATH")]))
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout=30)
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR)
            client = Client(cluster)
    except OSError as exc:
        raise UserInputError(f"cannot reach the Dask scheduler {scheduler or '(local)'}: {exc}") from None
    try:
        futures = [client.submit(segment_on_worker, str(Path(model_path).resolve()), precision, runtime, str(file), plane,
                                 str(output.resolve()), options, pure=False) for file, plane in jobs]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
