"""Load a trained model, predict class maps, evaluate against the truth; segment FITS frames.

Python API:
    seg = load_trained_model()               # the shipped Models/default.keras, a `Segmenter`
    classes = seg.classes(frames)            # (h, w) or (n, h, w) ADU -> uint8 ids
    classes = seg.segment(frame)             # one frame (h, w) of any size, in tiles

Command line:
    python load_model.py --data Images/Test/test_data.npy --truth Images/Test/test_truth.npy
    python load_model.py --fits FILE_OR_DIR [--hdu N|NAME] [--plane N] [--region [x1:x2,y1:y2]|DATASEC]
                         [--model PATH] --output DIR [--find CLASS] [--gain ADU_PER_E] [--max-adu ADU] [--force]
                         [--workers N | --scheduler tcp://HOST:PORT]

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
from ccdseg.core.classes import format_percentages, get_percentages
from ccdseg.core.errors import UserInputError, quiet_native_logs, run_command
from ccdseg.core.safe_write import refuse_existing, save_text
from ccdseg.core.stopping import Terminated, stop_on_signals
from ccdseg.core.scoring import classification_report, score_labels
from ccdseg.infer import tiling
from ccdseg.infer.campaign import segment_on_cluster
from ccdseg.infer.fits_options import check_fits_options
from ccdseg.infer.fits_run import SECTION_FIGURES, as_choice, segment_fits
from ccdseg.infer.model_choice import ModelChoice
from ccdseg.infer.provenance import ran_precision
from ccdseg.infer.run_plan import plan_run
from ccdseg.infer.runtime import PRECISIONS, RUNTIMES
from ccdseg.infer.segmenter import TILE_BATCH_TILES, Segmenter
from ccdseg.io.arrays import load_frames, load_truth
from ccdseg.plots.labels import visualize_label

__all__ = ["load_trained_model", "predict_and_report", "segment_fits"]

# %% Settings - edit here when running top to bottom in Spyder
OUTPUT = paths.OUTPUTS
TILE_PX = tiling.TILE_SIZE_PX  # largest tile side given to the model
MARGIN_PX = tiling.MARGIN_PX  # tile margin whose prediction is dropped
PRECISION = "auto"
RUNTIME = "auto"
GAIN = None  # ADU per electron of every frame; None: each HDU's GAIN keyword, else the frame's own calibration
MAX_ADU = None  # values above it are masked as impossible, besides those beyond the header's DATAMAX or SATURATE
INTERRUPTED = "files written so far are complete, none is half-written; run again to resume"


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
    models: Segmenter | ModelChoice,
    images: np.ndarray,
    truth: np.ndarray | None,
    output: Path,
    force: bool = False,
    figures: int = 10,
) -> dict:
    """Predict frames, save figures and a report to `output`, return the scores (or percentages).

    models : one `Segmenter` for every frame, or a `ModelChoice` (each frame
    by the model of its kind; the report says which and why). Every output is
    checked before any work (nothing is replaced without `force`) and written
    atomically.
    """
    report_path = output / "prediction_report.txt"
    figure_paths = [output / f"prediction_{i:04d}.png" for i in range(min(figures, len(images)))]
    refuse_existing([report_path, *figure_paths], force)
    choice = as_choice(models)
    picks = [choice.for_frame(frame) for frame in images]
    prediction = np.empty(images.shape, dtype=np.uint8)
    lines = []
    for segmenter in {id(model): model for model, _ in picks}.values():
        chosen = [i for i, (model, _) in enumerate(picks) if model is segmenter]
        prediction[chosen] = segmenter.classes(images[chosen]).reshape(len(chosen), *images.shape[1:])
        reasons = sorted({why for model, why in picks if model is segmenter})
        lines.append(f"{describe_model(segmenter)}: {len(chosen)} of {len(images)} frames ({'; '.join(reasons)})")
    lines.append(f"predicted class percentages: {format_percentages(get_percentages(prediction))}")
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
    """Say in one line why `folder` cannot be the output folder (a file, not writable); it is made when written to."""
    if folder.exists() and not folder.is_dir():
        raise UserInputError(f"{folder}: exists and is not a folder; choose another --output")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UserInputError(f"{folder}: the output folder cannot be made or written ({existing} is not writable)")


def describe_model(segmenter: Segmenter) -> str:
    """One line naming the model used and what its card says of it: name, training data, date."""
    card = segmenter.card
    data = card.get("data", {})
    frames = sum(int(d.get("count", 0)) for key, d in data.items() if key != "test" and isinstance(d, dict))
    trained = f", trained {card['date']}" if "date" in card else ""
    on = f" on {frames} simulated frames" if frames else ""
    return (f"model: {segmenter.path} ({card.get('name', segmenter.path.stem)}{trained}{on},"
            f" {ran_precision(segmenter)}, {segmenter.runtime})")


# %% Command line
def _hdu_argument(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.strip().isdigit() else text


def main(argv: list[str] | None = None) -> int:
    """Predict .npy stacks, PNG images or FITS detector frames with a trained model."""
    parser = argparse.ArgumentParser(description="Segment CCD frames with a trained U-Net.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, help=".npy stack (n, h, w) ADU, a PNG file or a folder of PNGs")
    parser.add_argument("--truth", type=Path, help=".npy truth class ids (n, h, w) to evaluate against")
    parser.add_argument("--fits", type=Path, help="FITS file or folder: a class-map file per file, a PNG per frame")
    parser.add_argument("--hdu", help="FITS image HDU, index or EXTNAME (default: every image HDU)")
    parser.add_argument("--plane", type=int, help="plane of a 3-D FITS cube, 0-based (default: every plane)")
    parser.add_argument("--region", help="part of each FITS frame: [x1:x2,y1:y2] (1-based) or a keyword (DATASEC)")
    parser.add_argument("--find", help="also list and draw the FITS frame's sections holding this class (cluster, ...)")
    parser.add_argument("--model", type=Path, default=None,
                        help="a .keras model for every frame (default: the shipped one for each kind of frame)")
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
    parser.add_argument("--gain", type=float, default=GAIN,
                        help="--fits: gain of every frame, ADU per electron (default: each HDU's GAIN keyword, else"
                             " the frame's own calibration where single electrons are resolved)")
    parser.add_argument("--max-adu", type=float, default=MAX_ADU,
                        help="--fits: values above this, ADU, are masked as impossible (besides those beyond the"
                             " header's DATAMIN/DATAMAX/SATURATE)")
    parser.add_argument("--workers", type=int, default=None,
                        help="--fits: local processes segmenting files on Dask, at most one per core (default: 1)")
    parser.add_argument("--scheduler", help="--fits: address of a running Dask scheduler (tcp://host:8786)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = parser.parse_args(argv)
    with stop_on_signals():
        try:
            return run_command(lambda: _run(args), f"interrupted; {INTERRUPTED}")
        except Terminated:
            print(f"error: terminated (SIGTERM); {INTERRUPTED}", file=sys.stderr)
            return 143


def _run(args: argparse.Namespace) -> int:
    """The work of `main`, once the options are parsed."""
    if (args.data is None) == (args.fits is None):
        raise UserInputError("give either --data (.npy or PNG) or --fits (FITS file or folder)")
    for option, value, least in (("--batch-size", args.batch_size, 1), ("--figures", args.figures, 0),
                                 ("--tile", args.tile, 1), ("--margin", args.margin, 0)):
        if value < least:
            raise UserInputError(f"{option} must be at least {least}, not {value}")
    prepare_output(args.output)
    if args.fits is not None:
        return _run_fits(args)
    images = load_frames(args.data)
    truth = None if args.truth is None else load_truth(args.truth, images.shape)
    choice = ModelChoice.load(args.model).map(
        lambda segmenter: segmenter.with_runtime(args.runtime).with_precision(args.precision))
    predict_and_report(choice, images, truth, args.output, args.force, args.figures)
    return 0


def _run_fits(args: argparse.Namespace) -> int:
    """`--fits`: every option and input checked, then the models loaded, then the run (`fits_run.segment_fits`)."""
    hdu = _hdu_argument(args.hdu)
    check_fits_options(find=args.find, gain=args.gain, max_adu=args.max_adu, workers=args.workers,
                       scheduler=args.scheduler, tile_px=args.tile, margin_px=args.margin, model=args.model)
    plan = plan_run(args.fits, hdu=hdu, plane=args.plane, region=args.region, gain=args.gain, find=args.find)
    choice = None
    if plan.files:
        choice = ModelChoice.load(args.model).map(
            lambda segmenter: segmenter.with_runtime(args.runtime).with_precision(args.precision))
        for segmenter in choice.models.values():
            print(describe_model(segmenter), file=sys.stderr)
    cluster = None
    if choice is not None and (args.workers not in (None, 1) or args.scheduler):
        model_paths = tuple((kind, str(Path(seg.path).resolve())) for kind, seg in choice.models.items())
        cluster = partial(segment_on_cluster, model_paths, args.precision, choice.default.runtime,
                          workers=args.workers or 1, scheduler=args.scheduler)
    failed = segment_fits(choice, args.fits, args.output, plane=args.plane, cluster=cluster, plan=plan, hdu=hdu,
                          region=args.region, find=args.find, force=args.force, tile_px=args.tile,
                          margin_px=args.margin, batch_size=args.batch_size, figures=args.figures, gain=args.gain,
                          max_adu=args.max_adu)
    return 1 if failed else 0


if __name__ == "__main__":
    quiet_native_logs()
    raise SystemExit(main())
