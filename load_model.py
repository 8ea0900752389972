"""Load a trained model, predict class maps, evaluate against the truth; segment FITS frames.

Python API:
    seg = load_trained_model()               # the shipped Models/default.keras, a `Segmenter`
    classes = seg.classes(frames)            # (h, w) or (n, h, w) ADU -> uint8 ids
    classes = seg.segment(frame)             # one frame (h, w) of any size, in tiles

Command line:
    python load_model.py --data Images/Test/test_data.npy --truth Images/Test/test_truth.npy
    python load_model.py --fits FILE_OR_DIR [--hdu N|NAME] [--plane N] [--region [x1:x2,y1:y2]|DATASEC]
                         [--model PATH] --output DIR [--find CLASS] [--force]

How frames are normalised and tiled is the job of `ccdseg.infer.segmenter`;
FITS reading and writing that of `ccdseg.io.fits`; runs over FITS files and
folders that of `ccdseg.infer.fits_run` (and `ccdseg.infer.campaign` on a
Dask cluster).
"""
from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

import numpy as np

from ccdseg.core import paths
from ccdseg.core.classes import class_id, format_percentages, get_percentages
from ccdseg.core.errors import UserInputError, quiet_native_logs, run_command
from ccdseg.core.safe_write import refuse_existing, save_text
from ccdseg.core.scoring import classification_report, score_labels
from ccdseg.infer import tiling
from ccdseg.infer.campaign import segment_on_cluster
from ccdseg.infer.fits_run import SECTION_FIGURES, fits_inputs, segment_fits
from ccdseg.infer.runtime import PRECISIONS, RUNTIMES
from ccdseg.infer.segmenter import TILE_BATCH_TILES, Segmenter
from ccdseg.infer.tiling import plan_sections
from ccdseg.io.arrays import load_frames, load_truth
from ccdseg.plots.labels import visualize_label

__all__ = ["load_trained_model", "predict_and_report", "segment_fits"]

# %% Settings - edit here when running top to bottom in Spyder
OUTPUT = paths.OUTPUTS
TILE_PX = tiling.TILE_SIZE_PX  # largest tile side given to the model
MARGIN_PX = tiling.MARGIN_PX  # tile margin whose prediction is dropped
PRECISION = "auto"
RUNTIME = "auto"


# %% The original's functions, on a `Segmenter`
def load_trained_model(path: str | Path | None = None) -> Segmenter:
    """Load a saved U-Net (None: the shipped default model) with its card, as a `Segmenter`."""
    return Segmenter.load(path)


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
    prediction = segmenter.classes(images)
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
    parser.add_argument("--tile", type=int, default=TILE_PX, help="largest tile side given to the model, px")
    parser.add_argument("--margin", type=int, default=MARGIN_PX, help="tile margin whose prediction is dropped, px")
    parser.add_argument("--batch-size", type=int, default=TILE_BATCH_TILES, help="tiles per model call (--fits)")
    parser.add_argument("--precision", choices=PRECISIONS, default=PRECISION,
                        help="bfloat16: nearly twice as fast on CPUs with AVX512-BF16, maps differ on a few pixels"
                             " in 100,000; auto: bfloat16 where OpenVINO runs on such a CPU, else float32")
    parser.add_argument("--runtime", choices=RUNTIMES, default=RUNTIME,
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
            cluster=None if args.workers == 1 and not args.scheduler else partial(
                segment_on_cluster, segmenter.path, args.precision, segmenter.runtime,
                workers=args.workers, scheduler=args.scheduler),
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
