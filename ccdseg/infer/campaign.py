"""Many frames on many machines: a campaign's FITS files segmented on a Dask cluster.

    python load_model.py --fits DIR --output OUT --workers 2                   # local processes
    python load_model.py --fits DIR --output OUT --scheduler tcp://host:8786   # an existing cluster

Files are the unit of work. Each worker process loads its models once (the
first file it gets: a `ModelChoice`, so that each frame is segmented by the
model of its kind) and keeps them; every file's outputs are written by the
worker that segmented it, into the output folder, so the workers of a
cluster on several machines need `ccdseg` installed (`pip install .`) and
the inputs and the output folder at the same absolute paths (a shared file
system): both are checked before any file is sent. A file whose worker is
lost (killed for memory, ended) is given to another worker at most
`MAX_RETRIES` more times, then reported as failed; when no worker is left
for `NO_WORKER_TIMEOUT_S`, the run stops and says so. Either way, the run's
catalogue of the finished files is written.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from ccdseg.core import paths, stopping
from ccdseg.core.errors import UserInputError
from ccdseg.infer.fits_run import run_files
from ccdseg.infer.model_choice import ModelChoice
from ccdseg.infer.run_plan import FileJob
from ccdseg.infer.segmenter import Segmenter

# %% Defaults
MAX_RETRIES = 2  # a file whose worker was lost goes to another worker at most this many more times
NO_WORKER_TIMEOUT_S = 120.0  # no worker (or no scheduler) this long: the run stops, the files not done are reported
CONNECT_TIMEOUT_S = 30.0  # to reach a scheduler
POLL_S = 1.0  # how often the client looks at its workers while it waits
ADDRESS = re.compile(r"((tcp|tls|ucx|ws|wss)://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}/?|inproc://\S+")

# %% State of a worker process
_CHOICES: dict[tuple, ModelChoice] = {}  # per worker process: the models, loaded once


# %% On a worker
def dask_setup(worker) -> None:
    """Run by Dask in each local worker process as it starts (a preload): Ctrl-C is the client's to handle.

    Ctrl-C reaches every process of the terminal's group; the client closes
    its workers, which would otherwise each print a traceback.
    """
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread of the worker process: leave it
        pass


def worker_choice(model_paths: tuple[tuple[str, str], ...], precision: str, runtime: str) -> ModelChoice:
    """The `ModelChoice` of this worker process ((kind, model path) pairs), loaded on its first file and kept."""
    key = (tuple(model_paths), precision, runtime)
    if key not in _CHOICES:
        models = ModelChoice({kind: Segmenter.load(path) for kind, path in model_paths})
        _CHOICES[key] = models.map(lambda segmenter: segmenter.with_runtime(runtime).with_precision(precision))
    return _CHOICES[key]


def segment_file_on_worker(model_paths: tuple[tuple[str, str], ...], precision: str, runtime: str, job: FileJob,
                           output: str, options: dict) -> dict:
    """Segment one file on a worker (`infer.fits_run.run_files`): its result, errors included."""
    return next(run_files(worker_choice(model_paths, precision, runtime), [job], Path(output), options))


# %% On the client
def check_scheduler_address(address: str) -> str:
    """`address` when it reads as a Dask scheduler's (tcp://HOST:PORT, HOST:PORT, tls://...); else `UserInputError`."""
    if not ADDRESS.fullmatch(str(address).strip()):
        raise UserInputError(f"--scheduler {address!r} is not the address of a Dask scheduler: give tcp://HOST:PORT"
                             " (the port is 8786 unless the scheduler was started with another)")
    return str(address).strip()


def _start(workers: int, scheduler: str | None):
    """(client, local cluster or None): a cluster of `workers` local processes, or the client of `scheduler`."""
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(check_scheduler_address(scheduler), timeout=CONNECT_TIMEOUT_S), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserInputError(f"cannot reach the Dask scheduler {scheduler} within {CONNECT_TIMEOUT_S:.0f} s:"
                                 f" {' '.join(str(exc).split())[:200]}") from None
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.REPO), os.environ.get("PYTHONPATH")]))
    with dask.config.set({"distributed.scheduler.allowed-failures": MAX_RETRIES}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL, preload=[__name__])
    try:
        return Client(cluster), cluster
    except BaseException:
        cluster.close(timeout=5)
        raise


def check_workers(client, output: Path, first_input: Path, scheduler: str | None) -> None:
    """Refuse, in one line, workers that cannot do the work: none joins, no `ccdseg`, no shared folders."""
    where = scheduler or "the local cluster"
    try:
        client.wait_for_workers(1, timeout=NO_WORKER_TIMEOUT_S)
    except TimeoutError:
        raise UserInputError(f"no Dask worker joined {where} within {NO_WORKER_TIMEOUT_S:.0f} s") from None
    output, first_input = str(output), str(first_input)
    found = client.run(lambda: (importlib.util.find_spec("ccdseg") is not None, os.access(output, os.W_OK),
                                os.path.isfile(first_input)))
    for problem, index in (("cannot import ccdseg: install it on every worker machine (pip install . in the"
                            " repository, in the environment the workers run in)", 0),
                           (f"cannot write the output folder {output}: workers need it at the same path"
                            " (a shared file system)", 1),
                           (f"cannot see the input {first_input}: workers need the inputs at the same path"
                            " (a shared file system)", 2)):
        missing = sorted(worker for worker, answers in found.items() if not answers[index])
        if missing:
            raise UserInputError(f"the Dask workers {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"
                                 f" of {where} {problem}")


def failed_file(job: FileJob, why: str) -> dict:
    """The result of a file that was not segmented: every frame failed, for `why`."""
    return {"file": str(job.path), "summaries": [], "errors": [f"{job.path}: not segmented: {why}"], "segmented": 0,
            "failed": len(job.frames), "pixels": 0}


def _outcome(future, job: FileJob) -> dict:
    """A finished future's file result; a lost worker or an error on the worker as a failed file."""
    from distributed.scheduler import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        return failed_file(job, "its Dask worker was lost on every try (killed, e.g. for memory, or ended);"
                                " the other files go on")
    except Exception as exc:  # an error on the worker outside a frame (its models cannot load, ...)
        return failed_file(job, f"{type(exc).__name__} on a Dask worker: {' '.join(str(exc).split())[:200]}")


def _wait_for_results(client, futures: dict, where: str) -> Iterator[dict]:
    """Yield each file's result as it finishes; stop, reporting the others, when no worker is left for long."""
    from distributed import wait

    pending, seen = set(futures), time.monotonic()
    while pending:
        try:
            done, pending = wait(list(pending), timeout=POLL_S, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = set()
        stopping.check()
        for future in done:
            yield _outcome(future, futures[future])
        if client.status == "running" and client.scheduler_info().get("workers"):
            seen = time.monotonic()
        elif time.monotonic() - seen > NO_WORKER_TIMEOUT_S:
            why = f"no Dask worker on {where} for {NO_WORKER_TIMEOUT_S:.0f} s: the run stopped"
            for future in pending:
                yield failed_file(futures[future], why)
            return


def segment_on_cluster(
    model_paths: tuple[tuple[str, str], ...],
    precision: str,
    runtime: str,
    jobs: list[FileJob],
    output: Path,
    options: dict,
    *,
    workers: int = 2,
    scheduler: str | None = None,
) -> Iterator[dict]:
    """Segment files on a local Dask cluster of `workers` processes, or on `scheduler`; yield each file's result.

    model_paths : (kind, absolute path) of each model of the `ModelChoice`.
    Paths go to the workers absolute. Ctrl-C (or SIGTERM) cancels the work
    and closes the cluster within seconds.
    """
    if not jobs:
        return
    client, cluster = _start(workers, scheduler)
    futures = {}
    try:
        check_workers(client, output.resolve(), jobs[0].path, scheduler)
        options = dict(options, progress=False)
        for job in jobs:
            future = client.submit(segment_file_on_worker, tuple(model_paths), precision, runtime, job,
                                   str(output.resolve()), options, pure=False)
            futures[future] = job
        yield from _wait_for_results(client, futures, scheduler or "the local cluster")
    finally:
        _close(client, cluster, list(futures))


def _close(client, cluster, futures: list) -> None:
    """Cancel what is left and close the client and the local cluster, within seconds, whatever state they are in."""
    try:
        if futures:
            client.cancel(futures, force=True)
        client.close(timeout=5)
    except Exception:  # a scheduler that is gone cannot be told: closing is all that is left
        pass
    if cluster is not None:
        try:
            cluster.close(timeout=10)
        except Exception:
            pass
