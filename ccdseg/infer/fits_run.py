"""FITS frames and folders segmented to files: class maps, overviews, cluster catalogues, resumable runs.

`load_model.py --fits` runs this, one frame after the other or on a Dask
cluster (`campaign.py`); each frame's outputs are written atomically, a bad
frame is reported and skipped, and a run that was stopped is resumed.
"""
from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ccdseg.core.classes import CLASS_NAMES, class_id, format_percentages, get_percentages
from ccdseg.core.concurrency import one_ahead
from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import save_text
from ccdseg.infer import tiling
from ccdseg.infer.catalogue import cluster_catalogue
from ccdseg.infer.object_search import check_one_object, format_sections
from ccdseg.infer.segmenter import Segmenter
from ccdseg.io.catalogue import concatenate, read_catalogue_fits, write_catalogue_fits, write_catalogue_root
from ccdseg.io.fits import (
    FitsFrame,
    fits_planes,
    fits_stem,
    header_text,
    is_fits_name,
    read_fits,
    read_fits_frame,
    write_segmentation_fits,
)
from ccdseg.plots.labels import fill_masked, visualize_label
from ccdseg.plots.results import plot_summary

# %% Defaults
SECTION_FIGURES = 10
SEGMENTATION_SUFFIX = "_segmentation.fits"
CLUSTERS_SUFFIX = "_clusters.fits"
RUN_CATALOGUE = "clusters.fits"  # every frame's clusters of the last run (rebuilt from the frames' catalogues)
RUN_ROOT = "clusters.root"  # the same for ROOT-based analyses
RUN_SUMMARY = "clusters_summary.png"  # its charge spectrum and cluster sizes


# %% FITS detector frames
def fits_inputs(path: Path, hdu: int | str | None = None) -> tuple[list[Path], list[str]]:
    """The FITS files to segment, sorted by name, and a note per entry of a folder that was skipped.

    A folder's FITS files are taken; not taken, and named in the notes:
    sub-folders, broken links, hidden files (temporary files of interrupted
    runs are hidden). The class maps and catalogues written by this module
    are not taken either, so an output folder can also be the input folder.
    Two inputs whose outputs would have the same name
    (`run1.fits` and `run1.fits.gz`) are refused before any work.
    """
    path = Path(path)
    if not path.is_dir():
        if not path.exists():
            raise UserInputError(f"{path}: no such file or folder")
        return [path], []
    files, skipped = [], []
    for entry in sorted(path.iterdir()):
        if not is_fits_name(entry):
            continue
        if entry.name.startswith("."):
            skipped.append(f"{entry.name} (hidden)")
        elif entry.name.endswith((SEGMENTATION_SUFFIX, CLUSTERS_SUFFIX)) or entry.name == RUN_CATALOGUE:
            continue
        elif entry.is_dir():
            skipped.append(f"{entry.name} (a folder)")
        elif not entry.is_file():
            skipped.append(f"{entry.name} (a broken link or not a file)")
        else:
            files.append(entry)
    if not files:
        raise UserInputError(f"{path}: no FITS file (.fits, .fit, .fts, .fz, gzipped) in this folder")
    by_stem: dict[str, list[str]] = {}
    for file in files:
        by_stem.setdefault(output_stem(file, hdu, None), []).append(file.name)
    clashes = [names for names in by_stem.values() if len(names) > 1]
    if clashes:
        raise UserInputError(
            f"{path}: {', '.join(clashes[0])} would all write outputs named {output_stem(path / clashes[0][0], hdu, None)}_*;"
            " move or rename all but one"
        )
    return files, skipped


def output_stem(path: Path, hdu: int | str | None, plane: int | None) -> str:
    """Name stem of a frame's outputs: the file's stem, plus the HDU when chosen and the cube plane."""
    stem = fits_stem(path)
    if hdu is not None:
        stem += "_" + "".join(c if c.isalnum() or c in "-_" else "_" for c in str(hdu))
    return stem if plane is None else f"{stem}_plane{plane}"


@dataclass
class SegmentedFrame:
    """One frame between `segment_plane` and `write_outputs`: read and segmented, its outputs not yet written.

    `done` holds the catalogue of a frame whose outputs an earlier run
    wrote (then `frame` and `classes` are None: nothing is left to do).
    """

    path: Path
    output: Path
    stem: str
    frame: FitsFrame | None = None
    classes: np.ndarray | None = None
    notes: dict = field(default_factory=dict)
    done: dict | None = None

    @property
    def segmentation_path(self) -> Path:
        return self.output / f"{self.stem}{SEGMENTATION_SUFFIX}"

    @property
    def overview_path(self) -> Path:
        return self.output / f"{self.stem}_overview.png"

    @property
    def clusters_path(self) -> Path:
        return self.output / f"{self.stem}{CLUSTERS_SUFFIX}"


def segment_plane(
    segmenter: Segmenter,
    path: Path,
    output: Path,
    hdu: int | str | None = None,
    plane: int | None = None,
    region: str | None = None,
    force: bool = False,
    tile_px: int | None = None,
    margin_px: int | None = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> SegmentedFrame:
    """Read one FITS image plane and segment it: the first half of a frame's work (`write_outputs` the second).

    A run that was stopped can be started again: a frame whose three
    outputs (`write_outputs`) are all there and readable is found done (its
    catalogue read back), a frame with some of them is done again; `force`
    redoes every frame. Raises `UserInputError` naming the file. The two
    halves can run for two frames at once (`run_frames`). `tile_px`,
    `margin_px`, `batch_size`: see `Segmenter.segment_normalised` (None: the
    defaults of `tiling` and `segmenter` as they are when called).
    """
    tile_px = tiling.TILE_SIZE_PX if tile_px is None else tile_px
    margin_px = tiling.MARGIN_PX if margin_px is None else margin_px
    segmented = SegmentedFrame(path, output, output_stem(path, hdu, plane))
    if not force:
        segmented.done = completed_frame(segmented.segmentation_path, segmented.overview_path, segmented.clusters_path)
        if segmented.done is not None:
            return segmented
    segmented.frame = read_fits_frame(path, hdu, plane, region)
    segmented.classes = segmenter.segment(segmented.frame.data, tile_px, margin_px, batch_size, progress)
    segmented.notes = {
        "SEGMODEL": (header_text(Path(segmenter.path).name)[-60:], "model file"),
        "SEGTILE": (tile_px, "largest tile given to the model, px"),
        "SEGMARG": (margin_px, "tile margin whose prediction is dropped, px"),
        "SEGPREC": (segmenter.precision, "model arithmetic"),
        "SEGRUNT": (segmenter.runtime, "what ran the network"),
    }
    return segmented


def write_outputs(
    segmented: SegmentedFrame, find: str | int | None = None, figures: int = SECTION_FIGURES
) -> tuple[str, dict, int]:
    """Write a segmented frame's outputs to its folder; return (a one-line summary, its catalogue, pixels segmented).

    Pixels segmented is 0 for a frame done in an earlier run. Writes
    `STEM_clusters.fits` (the cluster catalogue, `catalogue.py`),
    `STEM_segmentation.fits` (uint8 class map of the plane's shape,
    the input header, the class legend CLASS0..CLASS3, class percentages
    SEGPCT0..3, masked pixel count SEGNMASK) and `STEM_overview.png`
    (frame | predicted label, class percentages in the legend); with `find`,
    also `STEM_CLASS_sections.txt` and one figure per section holding that
    class (at most `figures`). Files are written atomically. Draws with
    matplotlib, so it runs in the main thread.
    """
    path, stem, output, frame, classes = (segmented.path, segmented.stem, segmented.output, segmented.frame,
                                          segmented.classes)
    if segmented.done is not None:
        return f"{path}: {stem}: done in an earlier run, skipped (--force redoes it)", segmented.done, 0
    image = fill_masked(frame.data)
    title = f"{path.name} {frame.where} {frame.region_text}: {frame.n_masked} masked px"
    # the tables are written in a thread while this one draws the overview (matplotlib stays in the main thread):
    # on a 4k x 4k frame they take about as long as each other, on different cores
    with ThreadPoolExecutor(max_workers=1) as tables:
        written = tables.submit(write_tables, path, frame, classes, stem, segmented.segmentation_path,
                                segmented.clusters_path, segmented.notes)
        visualize_label(image, None, classes, segmented.overview_path, title, show=False)
        catalogue = written.result()
    height, width = classes.shape
    summary = (
        f"{path}: {frame.where}: {height} x {width} px, {format_percentages(get_percentages(classes))};"
        f" {frame.n_masked} masked px (NaN/inf/BLANK, set to background) -> {segmented.segmentation_path};"
        f" {len(catalogue['cluster_id'])} clusters -> {segmented.clusters_path.name}"
    )
    if find is not None:
        name = CLASS_NAMES[class_id(find)]
        found = check_one_object(image, classes, find, output=output, stem=stem, max_figures=figures, show=False,
                                 force=True)
        listing = output / f"{stem}_{name.replace(' ', '_')}_sections.txt"
        save_text(listing, format_sections(found, find) + "\n", True)
        summary += f"; {len(found)} sections with {name} listed in {listing.name}"
    return summary, catalogue, int(frame.data.size)


def write_tables(
    path: Path, frame: FitsFrame, classes: np.ndarray, stem: str, segmentation_path: Path, clusters_path: Path,
    notes: dict,
) -> dict:
    """Write a frame's class map and its cluster catalogue, both replaced if there; return the catalogue.

    path : the segmented file; frame : its plane as read (`fits_io.process_fits`);
    classes : (h, w) uint8 class ids; stem : the frame's name in the catalogue;
    notes : header cards for the class map.
    """
    write_segmentation_fits(segmentation_path, frame, classes, notes, force=True)
    catalogue = cluster_catalogue(frame.data, classes, frame_name=stem, origin=frame.region[::2])
    write_catalogue_fits(clusters_path, catalogue, True, {"SEGSRC": (header_text(path.name)[-68:], "segmented file")})
    return catalogue


def completed_frame(segmentation_path: Path, overview_path: Path, clusters_path: Path) -> dict | None:
    """The catalogue of a frame whose outputs are all there and readable; None when any is missing or broken."""
    if not all(p.is_file() for p in (segmentation_path, overview_path, clusters_path)):
        return None
    try:
        read_fits(segmentation_path, lambda hdul: hdul[0].data.shape)
        return read_catalogue_fits(clusters_path)
    except UserInputError:
        return None


def frame_jobs(files: list[Path], plane: int | None, hdu: int | str | None) -> tuple[list[tuple[Path, int | None]], list[str]]:
    """The frames to segment, (file, plane) each (every plane of a cube unless `plane` picks one), and errors."""
    jobs, errors = [], []
    for file in files:
        try:
            planes = [plane] if plane is not None else fits_planes(file, hdu)
        except UserInputError as exc:
            errors.append(str(exc))
            continue
        jobs += [(file, frame_plane) for frame_plane in planes]
    return jobs, errors


WRITE_OPTIONS = ("find", "figures")  # the options of `write_outputs`; the others are `segment_plane`'s


def _never_raising(file: Path, work: Callable[[], dict]) -> dict:
    """`work()`, or {'error': one line naming `file`} when it raises."""
    try:
        return work()
    except UserInputError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # one odd frame must not stop a night's batch of thousands
        return {"error": f"{file}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}


def start_frame(segmenter: Segmenter, file: Path, plane: int | None, output: Path, options: dict) -> dict:
    """The first half of `run_frame`, never raising: {'segmented': SegmentedFrame} or {'error': one line}."""
    plane_options = {key: value for key, value in options.items() if key not in WRITE_OPTIONS}
    return _never_raising(file, lambda: {"segmented": segment_plane(segmenter, file, output, plane=plane,
                                                                     **plane_options)})


def finish_frame(file: Path, started: dict, options: dict) -> dict:
    """The second half of `run_frame`, never raising: {'summary', 'catalogue', 'pixels'} or {'error': one line}."""
    if "error" in started:
        return started
    write_options = {key: value for key, value in options.items() if key in WRITE_OPTIONS}
    try:
        return _never_raising(file, lambda: dict(zip(("summary", "catalogue", "pixels"),
                                                     write_outputs(started["segmented"], **write_options))))
    finally:
        # figures hold frame-sized arrays in reference cycles: free them before the next frame. What survives (the
        # model, the libraries) is frozen, so later collections look at one frame's objects: 5 ms instead of 0.2 s
        gc.collect()
        gc.freeze()


def run_frame(segmenter: Segmenter, file: Path, plane: int | None, output: Path, options: dict) -> dict:
    """Segment one frame, never raising: {'summary', 'catalogue', 'pixels'} or {'error': one line}."""
    return finish_frame(file, start_frame(segmenter, file, plane, output, options), options)


def run_frames(segmenter: Segmenter, jobs: list[tuple[Path, int | None]], output: Path, options: dict) -> Iterator[dict]:
    """`run_frame` on each (file, plane) of `jobs`, in order, one frame ahead.

    The next frame is read and segmented in a thread while this one's
    outputs are written, so the network does not wait for the figures and
    tables (memory holds two frames).
    """
    for (file, _), started in one_ahead(jobs, lambda job: start_frame(segmenter, *job, output, options)):
        yield finish_frame(file, started, options)


def segment_fits(
    segmenter: Segmenter | None,
    path: Path,
    output: Path,
    plane: int | None = None,
    cluster: Callable[[list, Path, dict], Iterator[dict]] | None = None,
    **options,
) -> int:
    """Segment a FITS file or every FITS file of a folder; return the number of frames that failed.

    Frames are the unit of work: one after the other with `segmenter`, or
    spread over a cluster: `cluster(jobs, output, options)` yields each
    frame's `run_frame` result (`campaign.segment_on_cluster`).
    A bad frame is reported in one line on stderr and skipped; the others go
    on. The run's catalogue holds every frame's clusters. `options` are
    those of `segment_plane` and `write_outputs`.
    """
    files, skipped = fits_inputs(path, options.get("hdu"))
    if skipped:
        tqdm.write(f"note: {path}: skipped {', '.join(skipped)}", file=sys.stderr)
    jobs, errors = frame_jobs(files, plane, options.get("hdu"))
    for message in errors:
        tqdm.write(f"error: {message}", file=sys.stderr)
    if cluster is not None:
        results = cluster(jobs, output, options)
    else:
        results = run_frames(segmenter, jobs, output, options)
    catalogues, failed, pixels = [], len(errors), 0
    bar = tqdm(results, total=len(jobs), desc="frames", unit="frame", disable=len(jobs) < 2)
    for result in bar:
        if "error" in result:
            tqdm.write(f"error: {result['error']}", file=sys.stderr)
            failed += 1
            continue
        tqdm.write(result["summary"])
        catalogues.append(result["catalogue"])
        pixels += result["pixels"]
        bar.set_postfix_str(f"{pixels / 1e6 / max(bar.format_dict['elapsed'], 1e-9):.2f} MP/s")
    finish_run(catalogues, output)
    if len(jobs) + len(errors) > 1:
        print(f"{len(files)} files: {len(catalogues)} frames segmented, {failed} failed", file=sys.stderr)
    return failed


def finish_run(catalogues: list[dict], output: Path) -> None:
    """Write the run's catalogue (FITS and ROOT) and its summary plot from every frame's catalogue."""
    if not catalogues:
        return
    run_catalogue = concatenate(catalogues)
    write_catalogue_fits(output / RUN_CATALOGUE, run_catalogue, force=True)
    write_catalogue_root(output / RUN_ROOT, run_catalogue, force=True)
    plot_summary(run_catalogue["charge_adu"], run_catalogue["n_pixels"], output / RUN_SUMMARY, run_catalogue["energy_kev"])
    print(f"{len(run_catalogue['cluster_id'])} clusters of {len(catalogues)} frames -> {output / RUN_CATALOGUE},"
          f" {RUN_ROOT}, {RUN_SUMMARY}", file=sys.stderr)
