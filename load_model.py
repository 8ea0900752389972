"""Load a trained model, predict class maps, evaluate against the truth; segment FITS frames.

Python API:
    seg = load_trained_model()               # the shipped Models/default.keras, a `Segmenter`
    classes = predict_classes(seg, frames)   # (h, w) or (n, h, w) ADU -> uint8 ids
    classes = segment_frame(seg, frame)      # one frame (h, w) of any size, in tiles

Command line:
    python load_model.py --data Images/Test/test_data.npy --truth Images/Test/test_truth.npy
    python load_model.py --fits FILE_OR_DIR [--hdu N|NAME] [--plane N] [--region [x1:x2,y1:y2]|DATASEC]
                         [--model PATH] --output DIR [--find CLASS] [--force]

How frames are normalised and tiled is the job of `segmenter.py`; FITS reading
and writing that of `fits_io.py`.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from catalogue import (
    cluster_catalogue,
    concatenate,
    plot_summary,
    read_catalogue_fits,
    write_catalogue_fits,
    write_catalogue_root,
)
from classes import CLASS_NAMES, class_id, format_percentages, get_percentages
from errors import UserInputError, quiet_native_logs, run_command
from figures import fill_masked, visualize_label
from fits_io import fits_planes, fits_stem, header_text, is_fits_name, process_fits, write_segmentation_fits
from load_dataset import load_frames, load_truth
from object_search import check_one_object, format_sections
from safe_write import refuse_existing, save_text
from scoring import classification_report, score_labels
from segmenter import (
    BATCH_SIZE,
    DEFAULT_MODEL,
    PRECISIONS,
    RUNTIMES,
    TILE_BATCH_SIZE,
    Segmenter,
    card_path,
)
from tiling import MARGIN_PX, TILE_SIZE_PX, plan_sections

__all__ = ["DEFAULT_MODEL", "card_path", "load_trained_model", "with_precision", "predict_normalised",
           "predict_classes", "segment_frame", "predict_and_report", "segment_fits"]  # fmt: skip

# %% Settings - edit here when running top to bottom in Spyder
OUTPUT = Path(__file__).resolve().parent / "Images" / "Outputs"
SECTION_FIGURES = 10
SEGMENTATION_SUFFIX = "_segmentation.fits"
CLUSTERS_SUFFIX = "_clusters.fits"
RUN_CATALOGUE = "clusters.fits"  # every frame's clusters of the last run (rebuilt from the frames' catalogues)
RUN_ROOT = "clusters.root"  # the same for ROOT-based analyses
RUN_SUMMARY = "clusters_summary.png"  # its charge spectrum and cluster sizes


# %% The original's functions, on a `Segmenter`
def load_trained_model(path: str | Path | None = None) -> Segmenter:
    """Load a saved U-Net (None: the shipped default model) with its card, as a `Segmenter`."""
    return Segmenter.load(path)


def with_precision(segmenter: Segmenter, precision: str = "float32") -> Segmenter:
    """The segmenter computing in `precision` ('float32': itself, 'bfloat16': a faster copy)."""
    return segmenter.with_precision(precision)


def predict_normalised(segmenter: Segmenter, normalised: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Class probabilities (n, h, w, 4) of already normalised frames (n, h, w) of any size."""
    return segmenter.predict_normalised(normalised, batch_size)


def predict_classes(segmenter: Segmenter, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Class ids (uint8) of a frame (h, w) or a stack (n, h, w) of ADU values, any size."""
    return segmenter.classes(images, batch_size)


def segment_frame(
    segmenter: Segmenter,
    frame: np.ndarray,
    tile_px: int = TILE_SIZE_PX,
    margin_px: int = MARGIN_PX,
    batch_size: int = TILE_BATCH_SIZE,
    progress: bool = False,
) -> np.ndarray:
    """Class ids (h, w) uint8 of one frame (h, w) in ADU, of any size (`Segmenter.segment`)."""
    return segmenter.segment(frame, tile_px, margin_px, batch_size, progress)


def evaluate(prediction: np.ndarray, truth: np.ndarray) -> tuple[dict, str]:
    """Scores (per-class precision, recall, F1, IoU, support) and the classification report."""
    if prediction.shape != truth.shape:
        raise UserInputError(f"truth shape {truth.shape} differs from the frames' {prediction.shape}")
    return score_labels(prediction, truth), classification_report(prediction, truth)


def predict_and_report(
    segmenter: Segmenter,
    images: np.ndarray,
    truth: np.ndarray | None,
    output: Path,
    force: bool = False,
    figures: int = 10,
) -> dict:
    """Predict frames, save figures and a report to `output`, return the scores (or percentages).

    Every output is checked before any work (nothing is replaced without
    `force`) and written atomically.
    """
    report_path = output / "prediction_report.txt"
    figure_paths = [output / f"prediction_{i:04d}.png" for i in range(min(figures, len(images)))]
    refuse_existing([report_path, *figure_paths], force)
    prediction = predict_classes(segmenter, images)
    prediction = prediction[None] if prediction.ndim == 2 else prediction
    lines = [describe_model(segmenter), f"predicted class percentages: {format_percentages(get_percentages(prediction))}"]
    result: dict = {"percentages": get_percentages(prediction).tolist()}
    if truth is not None:
        scores, report = evaluate(prediction, truth)
        result["scores"] = scores
        lines += ["classification report against the truth:", report]
    for i, path in enumerate(figure_paths):
        label = None if truth is None else truth[i]
        visualize_label(images[i], label, prediction[i], path=path, title=f"frame {i}", show=False)
    save_text(report_path, "\n".join(lines) + "\n", force=True)
    print("\n".join(lines))
    return result


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


def segment_fits_frame(
    segmenter: Segmenter,
    path: Path,
    output: Path,
    hdu: int | str | None = None,
    plane: int | None = None,
    region: str | None = None,
    find: str | int | None = None,
    force: bool = False,
    tile_px: int = TILE_SIZE_PX,
    margin_px: int = MARGIN_PX,
    batch_size: int = TILE_BATCH_SIZE,
    figures: int = SECTION_FIGURES,
    progress: bool = True,
) -> tuple[str, dict]:
    """Segment one FITS image plane and write its outputs to `output`.

    Returns (a one-line summary, the frame's cluster catalogue). Writes
    `STEM_clusters.fits` (the cluster catalogue, `catalogue.py`),
    `STEM_segmentation.fits` (uint8 class map of the plane's shape,
    the input header, the class legend CLASS0..CLASS3, class percentages
    SEGPCT0..3, masked pixel count SEGNMASK) and `STEM_overview.png`
    (frame | predicted label, class percentages in the legend); with `find`,
    also `STEM_CLASS_sections.txt` and one figure per section holding that
    class (at most `figures`). Files are written atomically.

    A run that was stopped can be started again: a frame whose three
    outputs are all there and readable is skipped (its catalogue read back),
    a frame with some of them is done again; `force` redoes every frame.
    Raises `UserInputError` naming the file.
    """
    stem = output_stem(path, hdu, plane)
    segmentation_path = output / f"{stem}{SEGMENTATION_SUFFIX}"
    overview_path = output / f"{stem}_overview.png"
    clusters_path = output / f"{stem}{CLUSTERS_SUFFIX}"
    if not force:
        done = completed_frame(segmentation_path, overview_path, clusters_path)
        if done is not None:
            return f"{path}: {stem}: done in an earlier run, skipped (--force redoes it)", done
    force = True  # the frame's outputs are incomplete or asked to be redone
    frame = process_fits(path, hdu, plane, region)
    classes = segmenter.segment(frame.data, tile_px, margin_px, batch_size, progress)
    notes = {
        "SEGMODEL": (header_text(Path(segmenter.path).name)[-60:], "model file"),
        "SEGTILE": (tile_px, "largest tile given to the model, px"),
        "SEGMARG": (margin_px, "tile margin whose prediction is dropped, px"),
        "SEGPREC": (segmenter.precision, "model arithmetic"),
        "SEGRUNT": (segmenter.runtime, "what ran the network"),
    }
    write_segmentation_fits(segmentation_path, frame, classes, notes, force)
    image = fill_masked(frame.data)
    title = f"{path.name} {frame.where} {frame.region_text}: {frame.n_masked} masked px"
    visualize_label(image, None, classes, overview_path, title, show=False)
    catalogue = cluster_catalogue(frame.data, classes, frame_name=stem, origin=frame.region[::2])
    write_catalogue_fits(clusters_path, catalogue, force, {"SEGSRC": (header_text(path.name)[-68:], "segmented file")})
    height, width = classes.shape
    summary = (
        f"{path}: {frame.where}: {height} x {width} px, {format_percentages(get_percentages(classes))};"
        f" {frame.n_masked} masked px (NaN/inf/BLANK, set to background) -> {segmentation_path};"
        f" {len(catalogue['cluster_id'])} clusters -> {clusters_path.name}"
    )
    if find is not None:
        name = CLASS_NAMES[class_id(find)]
        found = check_one_object(image, classes, find, output=output, stem=stem, max_figures=figures, show=False,
                                 force=force)
        listing = output / f"{stem}_{name.replace(' ', '_')}_sections.txt"
        save_text(listing, format_sections(found, find) + "\n", force)
        summary += f"; {len(found)} sections with {name} listed in {listing.name}"
    return summary, catalogue


def completed_frame(segmentation_path: Path, overview_path: Path, clusters_path: Path) -> dict | None:
    """The catalogue of a frame whose outputs are all there and readable; None when any is missing or broken."""
    from fits_io import read_fits

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


def run_frame(segmenter: Segmenter, file: Path, plane: int | None, output: Path, options: dict) -> dict:
    """Segment one frame, never raising: {'summary', 'catalogue', 'pixels'} or {'error': one line}."""
    try:
        summary, catalogue = segment_fits_frame(segmenter, file, output, plane=plane, **options)
        pixels = 0 if "skipped" in summary else int(np.prod(fits_shape(file, options)))
        return {"summary": summary, "catalogue": catalogue, "pixels": pixels}
    except UserInputError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # one odd frame must not stop a night's batch of thousands
        return {"error": f"{file}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
    finally:
        gc.collect()  # figures hold frame-sized arrays in reference cycles; free them before the next frame


def fits_shape(file: Path, options: dict) -> tuple[int, int]:
    """(rows, columns) of the image plane `file` holds, for throughput figures."""
    from fits_io import find_image_hdu, read_fits

    return read_fits(file, lambda hdul: hdul[find_image_hdu(hdul, options.get("hdu"), file)].shape[-2:])


def segment_fits(
    segmenter: Segmenter | None,
    path: Path,
    output: Path,
    plane: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    model_path: Path | None = None,
    **options,
) -> int:
    """Segment a FITS file or every FITS file of a folder; return the number of frames that failed.

    Frames are the unit of work: one after the other here, or spread over a
    Dask cluster (`campaign.py`) with `workers` > 1 local processes or an
    existing cluster at `scheduler`, each worker loading `model_path` once.
    A bad frame is reported in one line on stderr and skipped; the others go
    on. The run's catalogue holds every frame's clusters. `options` are
    those of `segment_fits_frame`.
    """
    files, skipped = fits_inputs(path, options.get("hdu"))
    if skipped:
        tqdm.write(f"note: {path}: skipped {', '.join(skipped)}", file=sys.stderr)
    jobs, errors = frame_jobs(files, plane, options.get("hdu"))
    for message in errors:
        tqdm.write(f"error: {message}", file=sys.stderr)
    if workers > 1 or scheduler:
        from campaign import segment_on_cluster

        results = segment_on_cluster(model_path, options.pop("precision", "float32"), options.pop("runtime", "keras"),
                                     jobs, output, options, workers, scheduler)
    else:
        options.pop("precision", None)
        options.pop("runtime", None)
        results = (run_frame(segmenter, file, frame_plane, output, options) for file, frame_plane in jobs)
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
    plot_summary(run_catalogue, output / RUN_SUMMARY)
    print(f"{len(run_catalogue['cluster_id'])} clusters of {len(catalogues)} frames -> {output / RUN_CATALOGUE},"
          f" {RUN_ROOT}, {RUN_SUMMARY}", file=sys.stderr)


def prepare_output(folder: Path) -> None:
    """Make the output folder, or say in one line why it cannot be one (a file, not writable)."""
    if folder.exists() and not folder.is_dir():
        raise UserInputError(f"{folder}: exists and is not a folder; choose another --output")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"{folder}: cannot make the output folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserInputError(f"{folder}: the output folder is not writable")


def describe_model(segmenter: Segmenter) -> str:
    """One line naming the model used and what its card says of it: name, training data, date."""
    card = segmenter.card
    data = card.get("data", {})
    frames = sum(int(d.get("count", 0)) for key, d in data.items() if key != "test" and isinstance(d, dict))
    trained = f", trained {card['date']}" if "date" in card else ""
    on = f" on {frames} simulated frames" if frames else ""
    return (f"model: {segmenter.path} ({card.get('name', segmenter.path.stem)}{trained}{on},"
            f" {segmenter.precision}, {segmenter.runtime})")


# %% Command line
def _hdu_argument(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.strip().isdigit() else text


def main(argv: list[str] | None = None) -> int:
    """Predict .npy stacks, PNG images or FITS detector frames with a trained model."""
    parser = argparse.ArgumentParser(description="Segment CCD frames with a trained U-Net.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, help=".npy stack (n, h, w) ADU, a PNG file or a folder of PNGs")
    parser.add_argument("--truth", type=Path, help=".npy truth class ids (n, h, w) to evaluate against")
    parser.add_argument("--fits", type=Path, help="FITS file or folder: a class map FITS and a PNG per frame")
    parser.add_argument("--hdu", help="FITS image HDU, index or EXTNAME (default: the first 2-D image)")
    parser.add_argument("--plane", type=int, help="plane of a 3-D FITS cube, 0-based (default: every plane)")
    parser.add_argument("--region", help="part of each FITS frame: [x1:x2,y1:y2] (1-based) or a keyword (DATASEC)")
    parser.add_argument("--find", help="also list and draw the FITS frame's sections holding this class (cluster, ...)")
    parser.add_argument("--model", type=Path, default=None, help="a .keras model (default: the shipped one)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="folder for class maps, figures and report")
    parser.add_argument("--figures", type=int, default=SECTION_FIGURES, help="frames or --find sections to draw")
    parser.add_argument("--tile", type=int, default=TILE_SIZE_PX, help="largest tile side given to the model, px")
    parser.add_argument("--margin", type=int, default=MARGIN_PX, help="tile margin whose prediction is dropped, px")
    parser.add_argument("--batch-size", type=int, default=TILE_BATCH_SIZE, help="tiles per model call (--fits)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="bfloat16: nearly twice as fast on CPUs with AVX512-BF16, slightly different maps")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto",
                        help="what runs the network: OpenVINO where installed (auto), or Keras")
    parser.add_argument("--workers", type=int, default=1, help="--fits: local processes segmenting frames (Dask)")
    parser.add_argument("--scheduler", help="--fits: address of an existing Dask scheduler (tcp://host:8786)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = parser.parse_args(argv)
    return run_command(lambda: _run(args), "interrupted; files written so far are complete, none is half-written")


def _run(args: argparse.Namespace) -> int:
    """The work of `main`, once the options are parsed."""
    if (args.data is None) == (args.fits is None):
        raise UserInputError("give either --data (.npy or PNG) or --fits (FITS file or folder)")
    for option, value, least in (("--batch-size", args.batch_size, 1), ("--figures", args.figures, 0),
                                 ("--tile", args.tile, 1), ("--margin", args.margin, 0), ("--workers", args.workers, 1)):
        if value < least:
            raise UserInputError(f"{option} must be at least {least}, not {value}")
    if args.fits is not None:
        if args.find is not None:
            class_id(args.find)
        fits_inputs(args.fits, _hdu_argument(args.hdu))
        prepare_output(args.output)
        segmenter = load_trained_model(args.model).with_runtime(args.runtime).with_precision(args.precision)
        print(describe_model(segmenter), file=sys.stderr)
        plan_sections((args.tile, args.tile), args.tile, args.margin, segmenter.multiple)
        failed = segment_fits(
            segmenter,
            args.fits,
            args.output,
            plane=args.plane,
            hdu=_hdu_argument(args.hdu),
            region=args.region,
            find=args.find,
            force=args.force,
            tile_px=args.tile,
            margin_px=args.margin,
            batch_size=args.batch_size,
            figures=args.figures,
            workers=args.workers,
            scheduler=args.scheduler,
            model_path=segmenter.path,
            precision=args.precision,
            runtime=segmenter.runtime,
        )
        return 1 if failed else 0
    images = load_frames(args.data)
    truth = None if args.truth is None else load_truth(args.truth, images.shape)
    prepare_output(args.output)
    segmenter = load_trained_model(args.model).with_runtime(args.runtime).with_precision(args.precision)
    predict_and_report(segmenter, images, truth, args.output, args.force, args.figures)
    return 0

if __name__ == "__main__":
    quiet_native_logs()
    raise SystemExit(main())
