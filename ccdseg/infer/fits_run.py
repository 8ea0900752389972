"""FITS files and folders segmented to files: class maps, overviews, cluster catalogues, resumable runs.

`load_model.py --fits` runs this, one frame after the other or on a Dask
cluster (`campaign.py`). A run is planned first (`run_plan.py`: files, HDUs,
planes, output names), files done in an earlier run with the same input
content, models and options are skipped (`provenance.py`), and one run at a
time writes into an output folder (`core.safe_write.folder_lock`). Each frame
(an image HDU, or a plane of a cube) is segmented by the model made for its
kind (`model_choice.ModelChoice`); each file gets one class-map file with its
HDUs, one overview per frame, and one catalogue with its frame list, written
atomically, the catalogue last. A bad frame is reported in one line and the
others go on; the run's catalogue is rebuilt from every finished file
(`run_catalogue.py`).
"""
from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ccdseg.core.classes import CLASS_NAMES, class_id, format_percentages, get_percentages
from ccdseg.core.concurrency import one_ahead
from ccdseg.core.errors import UserInputError
from ccdseg.core import stopping
from ccdseg.core.safe_write import folder_lock, save_text
from ccdseg.infer.catalogue import cluster_catalogue
from ccdseg.infer.model_choice import ModelChoice, resolved
from ccdseg.infer.object_search import check_one_object, format_sections
from ccdseg.infer.provenance import file_status, input_stamp, ran_precision, record_cards, record_key, run_record
from ccdseg.infer.run_catalogue import finish_run
from ccdseg.infer import run_plan, tiling
from ccdseg.infer.run_plan import FileJob, FrameJob, RunPlan, header_gain, plan_run, sections_name
from ccdseg.infer.segmenter import PreparedFrame, Segmenter
from ccdseg.io.catalogue import concatenate, frame_list, with_hdu, write_catalogue_fits
from ccdseg.io.class_map_fits import hdu_class_map, write_class_map_file
from ccdseg.io.fits import FitsFrame, header_text, image_hdus, read_fits_frame
from ccdseg.measure.background import frame_background
from ccdseg.plots.labels import fill_masked, visualize_label

# %% Defaults
SECTION_FIGURES = 10
PLAN_OPTIONS = ("hdu", "plane", "region", "gain", "find")  # the options `run_plan.plan_run` checks


# %% One frame: read, segmented by its model, then its overview and catalogue
@dataclass
class SegmentedFrame:
    """One frame between `segment_prepared_frame` and `finish_frame`: read and segmented, nothing written yet.

    stamp : the input file's (size, modification time) as it was read;
    notes : header cards of its class map (model, why, tiles, precision);
    background : the frame's `measure.background.Background` when its
    normalisation measured it (row by row), else None (the catalogue measures it).
    """

    job: FileJob
    frame_job: FrameJob
    frame: FitsFrame
    classes: np.ndarray
    notes: dict
    stamp: tuple[int, int]
    background: object = None


def as_choice(models: Segmenter | ModelChoice) -> ModelChoice:
    """A `ModelChoice` of one `Segmenter` (used for every frame), or the choice given."""
    return models if isinstance(models, ModelChoice) else ModelChoice({"ccd": models})


@dataclass
class PreparedJob:
    """One frame between `prepare_frame` and `segment_prepared_frame`: read, its model chosen, normalised."""

    job: FileJob
    frame_job: FrameJob
    frame: FitsFrame
    segmenter: Segmenter
    why: str
    prepared: PreparedFrame
    stamp: tuple[int, int]


def sibling_kinds(job: FileJob, frame_job: FrameJob, options: dict, known: dict) -> list[bool]:
    """Whether each other 2-D image HDU of the frame's file shows its single electrons resolved (`model_choice.resolved`).

    Every image HDU of the file counts, not only those segmented (`--hdu`),
    each read as the frame was (`region`, `max_adu`); one that cannot be
    read so (another size) is left out. known : {(path, HDU index): bool,
    or None where it could not be read}, filled and reused, so that a
    file's frames are looked at once; the frame itself goes in as not
    resolved (`ModelChoice.for_frame` asks only then).
    """
    if frame_job.plane is not None:
        return []
    known[(job.path, frame_job.hdu.index)] = False
    kinds = []
    for image in image_hdus(job.path)[1]:
        key = (job.path, image.index)
        if image.index == frame_job.hdu.index or len(image.shape) != 2:
            continue
        if key not in known:
            try:
                known[key] = resolved(read_fits_frame(job.path, image.index, None, options.get("region"),
                                                      options.get("max_adu")).data)
            except UserInputError:
                known[key] = None
        if known[key] is not None:
            kinds.append(known[key])
    return kinds


def prepare_frame(choice: ModelChoice, job: FileJob, frame_job: FrameJob, options: dict,
                  known: dict | None = None) -> PreparedJob:
    """Read one frame, choose the model of its kind and normalise it (its calibration): the first of a frame's steps.

    options : `region`, `max_adu`. known : `sibling_kinds`'s memory of the
    run's files (None: a new one). Raises `UserInputError` naming the file and HDU.
    """
    stamp = input_stamp(job.path)
    frame = read_fits_frame(job.path, frame_job.hdu.index, frame_job.plane, options.get("region"),
                            options.get("max_adu"))
    known = {} if known is None else known
    segmenter, why = choice.for_frame(frame.data, lambda: sibling_kinds(job, frame_job, options, known))
    return PreparedJob(job, frame_job, frame, segmenter, why, segmenter.prepare(frame.data), stamp)


def segment_prepared_frame(read: PreparedJob, options: dict) -> SegmentedFrame:
    """Segment a frame from `prepare_frame` by its model: the second of a frame's steps.

    options : `tile_px`, `margin_px`, `batch_size`, `progress` of
    `Segmenter.segment` (None: the defaults of `tiling` and `segmenter` as
    they are when called).
    """
    tile_px = tiling.TILE_SIZE_PX if options.get("tile_px") is None else options["tile_px"]
    margin_px = tiling.MARGIN_PX if options.get("margin_px") is None else options["margin_px"]
    segmenter = read.segmenter
    classes = segmenter.segment_prepared(read.prepared, tile_px, margin_px, options.get("batch_size"),
                                         options.get("progress", True))
    notes = {
        "SEGMODEL": (header_text(Path(segmenter.path).name)[-60:], "model file"),
        "SEGWHY": (header_text(read.why)[:68], "why this model (model_choice.py)"),
        "SEGTILE": (tile_px, "largest tile given to the model, px"),
        "SEGMARG": (margin_px, "tile margin whose prediction is dropped, px"),
        "SEGPREC": (ran_precision(segmenter), "model arithmetic, as it ran"),
        "SEGRUNT": (segmenter.runtime, "what ran the network"),
    }
    return SegmentedFrame(read.job, read.frame_job, read.frame, classes, notes, read.stamp, read.prepared.background)


def frame_gain(frame: FitsFrame, gain: float | None, fitted: float | None) -> tuple[float | None, str]:
    """(gain ADU per electron, where from): `--gain`, the HDU's GAIN keyword, the frame's own calibration, or none."""
    if gain is not None:
        return float(gain), "--gain"
    try:
        stated = header_gain(frame.header)
    except UserInputError as exc:
        raise UserInputError(f"{frame.path}: {frame.where}: {exc}") from None
    if stated is not None:
        return stated, "header GAIN"
    return (float(fitted), "the frame's calibration") if fitted else (None, "unknown")


def frame_catalogue(segmented: SegmentedFrame, gain: float | None) -> tuple[dict, dict, str]:
    """(the frame's cluster catalogue, its row of the frame list, how its gain and background were found).

    The background of each row is the frame's own
    (`measure.background.frame_background`, measured once: the one its
    normalisation found when there was one); the gain is `frame_gain`'s.
    """
    frame, frame_job = segmented.frame, segmented.frame_job
    background = segmented.background or frame_background(frame.data)
    gain, source = frame_gain(frame, gain, background.gain_adu_per_electron)
    catalogue = with_hdu(cluster_catalogue(frame.data, segmented.classes, frame_job.name, frame.region[::2],
                                           background.level_adu, gain), frame_job.label)
    if gain is not None:
        segmented.notes["SEGGAIN"] = (round(gain, 6), header_text(f"gain ADU/e, from {source}")[:47])
    row = {"frame": frame_job.name, "hdu": frame_job.label, "source": segmented.job.path.name,
           "plane": -1 if frame.plane is None else frame.plane, "n_clusters": len(catalogue["cluster_id"]),
           "n_masked": frame.n_masked, "gain": np.nan if gain is None else gain,
           "model": segmented.notes["SEGMODEL"][0], "run_key": ""}
    told = "gain unknown" if gain is None else f"gain {gain:.4g} ADU/e ({source})"
    return catalogue, row, told + ("" if background.trusted else f"; {background.note}")


def finish_frame(segmented: SegmentedFrame, output: Path, options: dict) -> dict:
    """Draw a frame's overview (and --find sections) while its catalogue is made: the second half of its work.

    Returns {'summary': one line, 'catalogue', 'row' (of the frame list),
    'segmented'}. Draws with matplotlib, so it runs in the main thread; the
    catalogue is made in a thread meanwhile (they take about as long).
    """
    frame, frame_job, classes = segmented.frame, segmented.frame_job, segmented.classes
    image = fill_masked(frame.data)
    title = f"{frame.path.name} {frame.where} {frame.region_text}: {frame.n_masked} masked px"
    with ThreadPoolExecutor(max_workers=1) as tables:
        made = tables.submit(frame_catalogue, segmented, options.get("gain"))
        visualize_label(image, None, classes, output / f"{frame_job.name}{run_plan.OVERVIEW_SUFFIX}", title, show=False)
        catalogue, row, told = made.result()
    beyond = f", {frame.n_beyond_range} beyond the ADC range ({frame.adc_range_adu[2]})" if frame.n_beyond_range else ""
    summary = (f"{frame.path}: {frame_job.where}: {classes.shape[0]} x {classes.shape[1]} px,"
               f" {format_percentages(get_percentages(classes))}; {frame.n_masked} masked px (NaN/inf/BLANK{beyond},"
               f" set to background); model {row['model']} ({segmented.notes['SEGWHY'][0]}); {told};"
               f" {len(catalogue['cluster_id'])} clusters")
    find = options.get("find")
    if find is not None:
        found = check_one_object(image, classes, find, output=output, stem=frame_job.name,
                                 max_figures=options.get("figures", SECTION_FIGURES), show=False, force=True)
        save_text(output / sections_name(frame_job.name, find), format_sections(found, find) + "\n", True)
        summary += f"; {len(found)} sections with {CLASS_NAMES[class_id(find)]}"
    return {"summary": summary, "catalogue": catalogue, "row": row, "segmented": segmented}


# %% One file: its frames' class maps in one file, its catalogue last
def write_file_outputs(job: FileJob, finished: list[dict], output: Path, record: dict) -> Path:
    """Write a file's class maps (one file, its HDUs), then its catalogue and frame list; return the maps' path."""
    by_hdu: dict[int, list[dict]] = {}
    for done in finished:
        by_hdu.setdefault(done["segmented"].frame_job.hdu.index, []).append(done)
    images = []
    for index, frames in by_hdu.items():
        segmented = [done["segmented"] for done in frames]
        class_map, header = hdu_class_map([s.frame for s in segmented], [s.classes for s in segmented],
                                          [s.notes for s in segmented], segmented[0].frame_job.cube_planes)
        images.append((index, segmented[0].frame_job.hdu.name, class_map, header))
    cards = record_cards(record, finished[0]["segmented"].stamp)
    path = write_class_map_file(output / job.segmentation_name, job.primary_header, images, cards, force=True)
    rows = [dict(done["row"], run_key=record_key(record)) for done in finished]
    write_catalogue_fits(output / job.clusters_name, concatenate([done["catalogue"] for done in finished]), True,
                         dict(cards, SEGSRC=(header_text(job.path.name)[-68:], "segmented file")), frame_list(rows))
    return path


def _never_raising(where: str, work: Callable[[], dict]) -> dict:
    """`work()`, or {'error': one line naming `where`} when it raises."""
    try:
        return work()
    except UserInputError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # one odd frame must not stop a night's batch of thousands
        return {"error": f"{where}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}


def _file_result(job: FileJob, frames: list[dict], output: Path, record: dict) -> dict:
    """A file's result once its frames are done: its outputs written from the frames that were segmented."""
    finished = [done for done in frames if "error" not in done]
    result = {"file": str(job.path), "summaries": [done["summary"] for done in finished],
              "errors": [done["error"] for done in frames if "error" in done], "segmented": len(finished),
              "pixels": sum(int(done["segmented"].frame.data.size) for done in finished)}
    if finished:
        written = _never_raising(str(job.path), lambda: {"path": write_file_outputs(job, finished, output, record)})
        if "error" in written:
            result.update(errors=result["errors"] + [written["error"]], summaries=[], segmented=0)
        else:
            result["summaries"] = [f"{line} -> {written['path'].name}" for line in result["summaries"]]
    result["failed"] = len(job.frames) - result["segmented"]
    return result


def run_files(choice: ModelChoice, jobs: list[FileJob], output: Path, options: dict) -> Iterator[dict]:
    """Segment every frame of `jobs`, in order, in three steps at once; yield one result per file (`_file_result`).

    While this frame's overview and catalogue are made, the next frame is
    segmented in a thread and the one after it read and calibrated in
    another (`prepare_frame`), so the network waits neither for the figures
    and tables nor for the calibration (on a whole DAMIC-M amplifier, a
    second or two; memory holds three frames, and a file's class maps).
    options : those of `prepare_frame`, `segment_prepared_frame` and
    `finish_frame`, and `record` (`provenance.run_record`).
    """
    frames = [(job, frame_job) for job in jobs for frame_job in job.frames]
    done: list[dict] = []
    known: dict = {}  # which frames of the run's files show resolved electrons (`sibling_kinds`)

    def prepare(item: tuple[FileJob, FrameJob]) -> dict:
        job, frame_job = item
        where = f"{job.path}: {frame_job.where}"
        return _never_raising(where, lambda: {"prepared": prepare_frame(choice, job, frame_job, options, known)})

    def start(prepared: tuple[tuple[FileJob, FrameJob], dict]) -> dict:
        (job, frame_job), read = prepared
        if "error" in read:
            return read
        work = read.pop("prepared")  # the network input is not held while the frame's outputs are written
        where = f"{job.path}: {frame_job.where}"
        return _never_raising(where, lambda: {"segmented": segment_prepared_frame(work, options)})

    for ((job, frame_job), _), started in one_ahead(one_ahead(frames, prepare), start):
        try:
            done.append(started if "error" in started else _never_raising(
                f"{job.path}: {frame_job.where}", lambda: finish_frame(started["segmented"], output, options)))
        finally:
            # figures hold frame-sized arrays in reference cycles: free them before the next frame. What survives (the
            # model, the libraries) is frozen, so later collections look at one frame's objects: 5 ms instead of 0.2 s
            gc.collect()
            gc.freeze()
        stopping.check()  # a Ctrl-C or SIGTERM swallowed by a collection callback stops the run here
        if frame_job is job.frames[-1]:
            yield _file_result(job, done, output, options["record"])
            done = []


# %% A run
def _sort_files(plan: RunPlan, output: Path, record: dict, options: dict) -> tuple[list[FileJob], list[str]]:
    """(files to segment, lines for files done in an earlier run); stale outputs refused unless `force`."""
    todo, skipped, stale = [], [], []
    for job in plan.files:
        status, why = ("new", "") if options.get("force") else file_status(job, output, record, options.get("find"))
        if status == "done":
            frames = ", ".join(frame.where for frame in job.frames)
            skipped.append(f"{job.path}: {frames}: done in an earlier run with the same input, model and options,"
                           " skipped (--force redoes it)")
        else:
            todo.append(job)
            stale += [f"{job.path.name} ({why})"] if status == "stale" else []
    if stale:
        more = "; ..." if len(stale) > 3 else ""
        raise UserInputError(f"{output}: the outputs of {len(stale)} input file(s) are there but were not made from"
                             f" this input with these options: {'; '.join(stale[:3])}{more}; --force redoes them,"
                             " or choose another --output")
    return todo, skipped


def segment_fits(
    models: Segmenter | ModelChoice | None,
    path: Path,
    output: Path,
    plane: int | None = None,
    cluster: Callable[[list, Path, dict], Iterator[dict]] | None = None,
    plan: RunPlan | None = None,
    **options,
) -> int:
    """Segment a FITS file or every FITS file of a folder; return the number of frames that failed.

    models : one `Segmenter` for every frame, or a `ModelChoice` (each frame
    by the model of its kind); None only when the plan has no file. Files are the unit of work: one after the
    other, or spread over a cluster: `cluster(jobs, output, options)` yields
    each file's result (`campaign.segment_on_cluster`). plan : the run's plan
    when made already (`run_plan.plan_run`). A bad frame is reported in one
    line on stderr and skipped; the others go on. `options` are those of
    `run_plan.plan_run`, `prepare_frame`, `segment_prepared_frame` and `finish_frame`, and `force`.
    """
    options = dict(options, plane=plane)
    plan = plan or plan_run(path, **{key: options.get(key) for key in PLAN_OPTIONS})
    for line in plan.notes:
        tqdm.write(f"note: {line}", file=sys.stderr)
    for line in plan.errors:
        tqdm.write(f"error: {line}", file=sys.stderr)
    todo, skipped = [], []
    if plan.files:
        choice = as_choice(models)
        options["record"] = run_record(choice.models, options)
        todo, skipped = _sort_files(plan, output, options["record"], options)
    for line in skipped:
        tqdm.write(line)
    counts = {"segmented": 0, "failed": len(plan.errors), "skipped": plan.n_frames - sum(len(j.frames) for j in todo)}
    if todo or skipped:
        created = not output.exists()
        try:
            with folder_lock(output):
                results = cluster(todo, output, options) if cluster is not None else run_files(choice, todo, output,
                                                                                                options)
                _report_files(results, todo, counts)
                finish_run(output)
        finally:
            if created and output.is_dir() and not any(output.iterdir()):
                output.rmdir()  # a run that wrote nothing leaves no folder behind
    print(f"{plan.inputs} files: {counts['segmented']} frames segmented, {counts['skipped']} done in an earlier run"
          f" (skipped), {counts['failed']} failed", file=sys.stderr)
    return counts["failed"]


def _report_files(results: Iterator[dict], todo: list[FileJob], counts: dict) -> None:
    """Print each file's lines as its result comes (errors on stderr), count its frames, show the speed."""
    frames = sum(len(job.frames) for job in todo)
    bar = tqdm(total=frames, desc="frames", unit="frame", disable=frames < 2)
    pixels = 0
    try:
        for result in results:
            for line in result["summaries"]:
                tqdm.write(line)
            for line in result["errors"]:
                tqdm.write(f"error: {line}", file=sys.stderr)
            counts["segmented"] += result["segmented"]
            counts["failed"] += result["failed"]
            pixels += result.get("pixels", 0)
            bar.update(result["segmented"] + result["failed"])
            bar.set_postfix_str(f"{pixels / 1e6 / max(bar.format_dict['elapsed'], 1e-9):.2f} MP/s")
    finally:
        bar.close()
