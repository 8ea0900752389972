"""Timings of whole commands and whole detectors, each in a child process or a folder of its own.

`load_model.py --fits` on a folder of frames (per frame, start-up
excluded, and the command itself with its peak memory), on a whole
DAMIC-M CCD's file (four amplifiers), the bare model they are compared
with, and the simulation of a whole DAMIC-M CCD with its peak memory.
Part of the benchmark's speed measurements (`evaluate.speed`).
"""
from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ccdseg.core import paths
from ccdseg.infer import segmenter as segmenting
from ccdseg.infer import tiling
from ccdseg.infer.fits_options import available_cores
from ccdseg.infer.fits_run import segment_fits
from ccdseg.infer.tiling import iter_section_batches, plan_sections
from ccdseg.io.fits import write_image_extensions
from ccdseg.model import predict
from ccdseg.simulate.skipper import simulate_skipper_frame

# %% Defaults
SPEED_SEED = 7
FITS_REPEATS = 3  # frames in the timed load_model --fits run
WHOLE_CCD_PX = (6144, 1536)  # a whole DAMIC-M CCD
AMPLIFIERS = ("CCD_A", "CCD_B", "CCD_C", "CCD_D")  # the image HDUs of a DAMIC-M file
BARE_TILE_PX = 1024  # the bare model's reference: whole tiles of this side, `predict.PREDICT_BATCH_FRAMES` at a time
CCD_TARGET_OVER_BARE = 1.3  # the whole CCD's file against the bare model: the target


# %% Functions
def best_time(function, repeats: int = 5) -> float:
    """The shortest of `repeats` wall times of `function()`, seconds."""
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def measure_ccd_simulation(shape: tuple[int, int] = WHOLE_CCD_PX) -> dict:
    """Seconds and peak memory of simulating one DAMIC-M frame of `shape` (a whole CCD), in a child process.

    The child simulates the DAMIC-M preset's frame (`simulate.skipper.simulate_skipper_frame`)
    and reports its wall time and its own peak resident memory (VmHWM).
    """
    code = (
        "import sys, time, numpy as np\n"
        f"sys.path.insert(0, {str(paths.REPO)!r})\n"
        "from ccdseg.simulate.skipper import simulate_skipper_frame\n"
        "started = time.perf_counter()\n"
        f"simulate_skipper_frame(np.random.default_rng({SPEED_SEED}), None, {tuple(shape)!r})\n"
        "print('seconds', time.perf_counter() - started)\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"simulating a whole CCD failed: {done.stderr.strip().splitlines()[-1:]}")
    lines = done.stdout.splitlines()
    seconds = float(next(line.split()[1] for line in lines if line.startswith("seconds")))
    peaks = [int(line.split()[1]) for line in lines if line.startswith("VmHWM")]
    result = {"shape_px": list(shape), "seconds": seconds, "peak_rss_mib": peaks[0] / 1024 if peaks else None}
    print(f"speed: a DAMIC-M frame of {shape[0]} x {shape[1]} px simulated in {seconds:.1f} s,"
          f" peak RSS {result['peak_rss_mib'] or 0:,.0f} MiB")
    return result


def _child_peak_mib(argv: list[str]) -> tuple[float, float | None]:
    """Run one of our scripts (argv[0], then its options) in a child Python; its wall seconds and peak RSS, MiB.

    The peak is the child's own VmHWM, read as it exits (Linux; None
    elsewhere): getrusage's figure for children would count the parent's
    memory, which the child shares until it starts Python.
    """
    script = paths.REPO / argv[0]
    code = (
        "import runpy, sys\n"
        f"sys.argv = {[str(script), *argv[1:]]!r}\n"
        "try:\n"
        "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "finally:\n"
        "    try:\n"
        "        print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0], file=sys.stderr)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip().splitlines()[-1:]}")
    peaks = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("VmHWM")]
    return seconds, (int(peaks[-1]) / 1024 if peaks else None)


def measure_fits_pipeline(segmenter, image: np.ndarray, reference: np.ndarray, bare_mps: float) -> dict:
    """The whole per-frame work of `load_model.py --fits`, with its default runtime and precision, on `image`.

    The frame is written `FITS_REPEATS` times to a folder of FITS files (and
    once to another); then, start-up excluded (model loaded and compiled, and
    the one-frame folder run first: the first frame of its size in a run also
    prepares the runtime for its tile shape and grows the process's memory),
    `fits_run.segment_fits` runs on the folder as `load_model.py --fits DIR`
    does: read each file, segment it, write its class map, overview figure
    and cluster catalogue (the next frame is segmented while one's outputs
    are written), then the run's catalogue, ROOT file and summary plot. The
    time per frame is the run's wall time over `FITS_REPEATS`. The first
    frame's class map is compared with `reference`, the Keras float32
    pipeline's. The command itself (`load_model.py --fits DIR`, start-up
    included) then runs on the same folder in a child process, for its wall
    time and peak resident memory (`_child_peak_mib`).
    """
    from astropy.io import fits

    default = segmenter.with_runtime("auto").with_precision("auto")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name in ("warm-up", "frames"):
            (folder / name).mkdir()
        fits.PrimaryHDU(image).writeto(folder / "warm-up" / "frame.fits")
        for number in range(FITS_REPEATS):
            fits.PrimaryHDU(image).writeto(folder / "frames" / f"frame{number}.fits")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            segment_fits(default, folder / "warm-up", folder / "warm-up-out", progress=False)
            started = time.perf_counter()
            failed = segment_fits(default, folder / "frames", folder / "timed", progress=False)
            seconds = (time.perf_counter() - started) / FITS_REPEATS
        if failed:
            raise RuntimeError(f"{failed} of the benchmark's frames failed in load_model --fits")
        classes = fits.getdata(folder / "timed" / "frame0_segmentation.fits")
        command = ["load_model.py", "--fits", str(folder / "frames"), "--model", str(segmenter.path),
                   "--output", str(folder / "command")]
        command_s, peak_mib = _child_peak_mib(command)
    mps = image.size / seconds / 1e6
    result = {
        "runtime": default.runtime,
        "precision": default.precision,
        "frames": FITS_REPEATS,
        "seconds": seconds,
        "mp_per_s": mps,
        "over_bare": mps / bare_mps,
        "agreement": float(np.mean(classes == reference)),
        "command_frames": FITS_REPEATS,
        "command_s": command_s,
        "command_peak_rss_mib": peak_mib,
    }
    print(f"speed: load_model --fits per frame ({default.runtime} {default.precision}, {FITS_REPEATS} frames):"
          f" {mps:.2f} MP/s, {result['over_bare']:.2f} x the bare Keras model; command on them {command_s:.1f} s,"
          f" peak RSS {'not measured' if peak_mib is None else f'{peak_mib:,.0f} MiB'}")
    return result


def bare_model_mps(segmenter, image: np.ndarray, max_tiles: int, repeats: int = 3) -> tuple[float, int, int]:
    """MP/s of the bare model on `image`, and the tile side and number of tiles it ran on.

    The frame is normalised as the model's card says (not timed) and cut
    into at most `max_tiles` non-overlapping tiles of `BARE_TILE_PX` (or the
    frame's shorter side), which go `predict.PREDICT_BATCH_FRAMES` at a time
    through Keras's `predict_on_batch` (the model compiled as a graph), after
    one warm-up batch: the best of `repeats` runs.
    """
    tile = min(BARE_TILE_PX, *image.shape) // segmenter.multiple * segmenter.multiple
    rows, columns = image.shape[0] // tile, image.shape[1] // tile
    normalised = segmenter.normalise(image)
    channels = normalised.shape[-1]
    tiles = normalised[: rows * tile, : columns * tile].reshape(rows, tile, columns, tile, channels)
    tiles = tiles.transpose(0, 2, 1, 3, 4).reshape(-1, tile, tile, channels)[:max_tiles]
    batch = predict.PREDICT_BATCH_FRAMES
    segmenter.model.predict_on_batch(tiles[:batch])

    def bare() -> None:
        for start in range(0, len(tiles), batch):
            segmenter.model.predict_on_batch(tiles[start : start + batch])

    return len(tiles) * tile * tile / best_time(bare, repeats) / 1e6, tile, len(tiles)


def measure_ccd_file(choice, shape: tuple[int, int] = WHOLE_CCD_PX, max_tiles: int = 16) -> dict:
    """`load_model.py --fits` on one DAMIC-M file of four amplifiers of `shape` (a whole CCD), against the bare model.

    choice : the `ModelChoice` the command would use (its default runtime
    and precision are applied). Four amplifier frames of the DAMIC-M preset
    are simulated and written as one tile-compressed file (EXTNAME `CCD_A`..
    `CCD_D`). The file is segmented once untimed (start-up: the runtime
    prepares its tile shapes), then timed as `fits_run.segment_fits` runs it:
    read, choose the model of each HDU, segment, and write the class maps,
    overviews and catalogues. MP/s counts the four amplifiers; the bare model
    (`bare_model_mps`, Keras) is the model chosen for the first amplifier, on it.
    Where the CPU goes (`cpu_budget`): the run's CPU seconds (all threads),
    the network's as the command runs it and the calibration's, both
    measured on the first amplifier and counted for every amplifier, and the
    CPU seconds the target ratio would leave on this machine's cores.
    """
    rng = np.random.default_rng(SPEED_SEED)
    frames = [simulate_skipper_frame(rng, None, tuple(shape)).image for _ in AMPLIFIERS]
    fast = choice.map(lambda model: model.with_runtime("auto").with_precision("auto"))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = folder / "ccd.fits.fz"
        write_image_extensions(path, [(name, frame.astype(np.float32), {}) for name, frame in zip(AMPLIFIERS, frames)],
                               {"NROW": (shape[0], "rows"), "NCOL": (shape[1], "columns")})
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            segment_fits(fast, path, folder / "warm-up", progress=False)
            started, cpu_started = time.perf_counter(), time.process_time()
            failed = segment_fits(fast, path, folder / "timed", progress=False)
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if failed:
        raise RuntimeError(f"{failed} of the whole CCD's amplifiers failed in load_model --fits")
    model, why = choice.for_frame(frames[0])
    bare_mps, tile, tiles = bare_model_mps(model, frames[0], max_tiles)
    pixels = sum(frame.size for frame in frames)
    mps = pixels / seconds / 1e6
    budget = cpu_budget(fast.for_frame(frames[0])[0], frames[0], len(frames))
    at_target_s = pixels / 1e6 / (CCD_TARGET_OVER_BARE * bare_mps)  # the file's wall time at the target ratio
    budget.update(run_cpu_s=cpu_seconds, at_target_cpu_s=at_target_s * budget["cores"])
    result = {"amplifiers": len(frames), "shape_px": list(shape), "seconds": seconds, "mp_per_s": mps,
              "model": model.path.name, "why": why, "bare_tile_px": tile, "bare_tiles": tiles,
              "bare_mp_per_s": bare_mps, "over_bare": mps / bare_mps, "target_over_bare": CCD_TARGET_OVER_BARE,
              "cpu_budget": budget}
    print(f"speed: a whole DAMIC-M CCD file ({len(frames)} x {shape[0]} x {shape[1]} px) in {seconds:.1f} s:"
          f" {mps:.2f} MP/s, {result['over_bare']:.2f} x the bare Keras model ({model.path.name});"
          f" {cpu_seconds:.1f} CPU s, of which network {budget['network_cpu_s']:.1f}, calibration"
          f" {budget['calibration_cpu_s']:.1f}; {CCD_TARGET_OVER_BARE} x would leave {budget['at_target_cpu_s']:.1f}"
          f" on {budget['cores']} cores")
    return result


def cpu_budget(segmenter, image: np.ndarray, amplifiers: int) -> dict:
    """CPU seconds (all threads) of `amplifiers` frames like `image` in their two costly steps, as the command runs.

    'calibration_cpu_s': `Segmenter.prepare` (the frame's fit and
    normalisation); 'network_cpu_s': the runtime on the frame's tiles as
    `Segmenter.segment_normalised` cuts them (`tiling.plan_sections`),
    without the decision. Each is measured once on `image` (after one
    untimed calibration) and counted `amplifiers` times; 'network_s' is the
    network's wall time so counted, 'cores' those this process may use.
    """
    segmenter.prepare(image)  # warm: the run's frames find the libraries loaded
    started = time.process_time()
    prepared = segmenter.prepare(image)
    calibration = time.process_time() - started
    layout = plan_sections(prepared.normalised.shape[:2], tiling.TILE_SIZE_PX, tiling.MARGIN_PX, segmenter.multiple)
    batches = [batch for _, batch in iter_section_batches(prepared.normalised, layout, segmenting.TILE_BATCH_TILES)]
    started, cpu_started = time.perf_counter(), time.process_time()
    for batch in batches:
        segmenter.infer(batch)
    network_s, network_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"cores": available_cores(), "calibration_cpu_s": amplifiers * calibration,
            "network_cpu_s": amplifiers * network_cpu, "network_s": amplifiers * network_s}
