"""Load a trained model, predict class maps, evaluate against the truth.

Python API:
    model = load_trained_model()             # the shipped Models/default.keras
    classes = predict_classes(model, frame)  # (h, w) or (n, h, w) ADU -> uint8 ids
    classes = segment_frame(model, frame)    # one frame (h, w) of any size, in tiles

Command line:
    python load_model.py --data Images/Test/test_data.npy --truth Images/Test/test_truth.npy
    python load_model.py --fits FILE_OR_DIR [--hdu N|NAME] [--plane N] [--region [x1:x2,y1:y2]|DATASEC]
                         [--model PATH] --output DIR [--find CLASS] [--force]

Big frames (a 4k x 4k detector image) are normalised once as a whole, then cut
into overlapping tiles that stream through the model a batch at a time; each
tile's prediction is kept only in its centre, so there are no seams at tile
borders and memory stays bounded whatever the frame's size.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from load_dataset import (
    MARGIN_PX,
    TILE_SIZE_PX,
    check_one_object,
    fill_masked,
    fits_planes,
    fits_stem,
    format_sections,
    is_fits_name,
    iter_section_batches,
    paste_section,
    plan_sections,
    process_fits,
    write_atomically,
    write_segmentation_fits,
)
from mask import (
    BACKGROUND,
    CLASS_NAMES,
    UserInputError,
    class_id,
    classification_report,
    format_percentages,
    get_percentages,
    score_labels,
    visualize_label,
)

# %% Settings - edit here when running top to bottom in Spyder
REPO = Path(__file__).resolve().parent
DEFAULT_MODEL = REPO / "Models" / "default.keras"
OUTPUT = REPO / "Images" / "Outputs"
BATCH_SIZE = 4
TILE_BATCH_SIZE = 1
SECTION_FIGURES = 10
SEGMENTATION_SUFFIX = "_segmentation.fits"
PRECISIONS = ("float32", "bfloat16")


# %% Functions
def card_path(model_path: str | Path) -> Path:
    """The JSON card (settings, normalisation, scores) stored beside a .keras model."""
    return Path(model_path).with_suffix(".json")


def load_trained_model(path: str | Path | None = None):
    """Load a saved U-Net (None: the shipped default model) with its card.

    The card's contents (normalisation, depth, scores) are attached as
    `model.ccd_card`. Raises `UserInputError` when the file is missing or is
    not a Keras model.
    """
    import keras

    import models  # registers the custom loss

    path = Path(path) if path is not None else DEFAULT_MODEL
    if not path.is_file():
        raise UserInputError(f"{path}: no such model file")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise UserInputError(f"{path}: not a loadable Keras model ({type(exc).__name__})") from None
    card = {}
    if card_path(path).is_file():
        try:
            card = json.loads(card_path(path).read_text())
        except ValueError:
            raise UserInputError(f"{card_path(path)}: not valid JSON") from None
    card.setdefault("normalisation", models.NORMALISATION)
    card.setdefault("depth", _pooling_depth(model))
    model.ccd_card = card
    model.ccd_path = path
    return model


def with_precision(model, precision: str = "float32"):
    """The model computing in `precision`: 'float32' (the model itself) or 'bfloat16'.

    'bfloat16' returns a copy whose layers compute in bfloat16 on float32
    weights (Keras 'mixed_bfloat16'; the final softmax stays float32). On
    CPUs with AVX512-BF16 it runs nearly twice as fast; its class maps
    differ from float32's on a small fraction of pixels, so check it on your
    frames before relying on it.
    """
    import keras

    if precision not in PRECISIONS:
        raise UserInputError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "float32":
        return model

    def clone(layer):
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = "float32" if layer is model.layers[-1] else "mixed_bfloat16"
        return layer.__class__.from_config(config)

    fast = keras.models.clone_model(model, clone_function=clone)
    fast.set_weights(model.get_weights())
    fast.ccd_card = dict(getattr(model, "ccd_card", {}), precision=precision)
    fast.ccd_path = getattr(model, "ccd_path", model.name)
    return fast


def model_multiple(model) -> int:
    """Frame sides the model accepts are multiples of this (2**depth)."""
    depth = getattr(model, "ccd_card", {}).get("depth", _pooling_depth(model))
    return 2 ** int(depth)


def _pooling_depth(model) -> int:
    """Number of pooling layers of a U-Net: its depth."""
    return sum("pooling" in layer.name for layer in model.layers)


def _normalise_for(model, frames: np.ndarray) -> np.ndarray:
    """Normalise frames as the model was trained (its card's normalisation)."""
    import models

    return models.normalise_frames(frames, getattr(model, "ccd_card", {}).get("normalisation"))


def predict_normalised(model, normalised: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Class probabilities (n, h, w, 4) of already normalised frames (n, h, w) of any size.

    Frames are padded by reflection to the model's multiple and cropped back.
    """
    multiple = model_multiple(model)
    n, height, width = normalised.shape
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    mode = "reflect" if pad_h < height and pad_w < width else "symmetric"
    padded = np.pad(normalised, ((0, 0), (0, pad_h), (0, pad_w)), mode=mode) if pad_h or pad_w else normalised
    out = np.empty((n, height, width, 4), dtype=np.float32)
    for start in range(0, n, batch_size):
        batch = padded[start : start + batch_size, ..., None]
        out[start : start + batch_size] = np.asarray(model(batch, training=False))[:, :height, :width]
    return out


def predict_probabilities(model, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Class probabilities (n, h, w, 4) float32 of frames (n, h, w) or (h, w) in ADU."""
    return predict_normalised(model, _normalise_for(model, _as_stack(images)), batch_size)


def predict_classes(model, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Class ids (uint8) of a frame (h, w) or a stack (n, h, w) of ADU values, any size.

    Frames with a side above `TILE_SIZE_PX` go through `segment_frame` one
    by one (overlapping tiles, `TILE_BATCH_SIZE` at a time, bounded memory);
    smaller ones are predicted whole, `batch_size` frames at a time. Each
    frame is normalised as a whole; NaN and inf pixels are class 0
    (background).
    """
    ndim = np.ndim(images)
    images = _as_stack(images)
    if max(images.shape[1:]) > TILE_SIZE_PX:
        classes = np.stack([segment_frame(model, frame) for frame in images])
    else:
        classes = np.argmax(predict_probabilities(model, images, batch_size), axis=-1).astype(np.uint8)
        classes[~np.isfinite(images)] = BACKGROUND
    return classes[0] if ndim == 2 else classes


def segment_normalised(
    model,
    normalised: np.ndarray,
    tile_px: int = TILE_SIZE_PX,
    margin_px: int = MARGIN_PX,
    batch_size: int = TILE_BATCH_SIZE,
    progress: bool = False,
) -> np.ndarray:
    """Class ids (h, w) uint8 of one normalised frame (h, w) of any size, in overlapping tiles.

    Tiles of at most `tile_px` (`load_dataset.plan_sections`) stream through
    the model `batch_size` at a time; each tile's classes are kept only in
    its centre, `margin_px` or more from its edges, so objects on a tile
    border are judged with their surroundings and there are no seams. Memory
    holds the frame, its class map and one batch of tiles.
    """
    normalised = np.asarray(normalised, dtype=np.float32)
    if normalised.ndim != 2:
        raise UserInputError(f"expected one frame (h, w), got shape {normalised.shape}")
    if batch_size < 1:
        raise UserInputError(f"batch size must be at least 1, not {batch_size}")
    layout = plan_sections(normalised.shape, tile_px, margin_px, model_multiple(model))
    classes = np.empty(normalised.shape, dtype=np.uint8)
    batches = iter_section_batches(normalised, layout, batch_size)
    total = -(-len(layout) // batch_size)
    bar = dict(total=total, desc="tiles", unit="batch", leave=False, disable=not progress or total < 2)
    for numbers, batch in tqdm(batches, **bar):
        tile_classes = np.argmax(model.predict_on_batch(batch[..., None]), axis=-1).astype(np.uint8)
        for tile, index in zip(tile_classes, numbers):
            paste_section(classes, tile, layout, index)
    return classes


def segment_frame(
    model,
    frame: np.ndarray,
    tile_px: int = TILE_SIZE_PX,
    margin_px: int = MARGIN_PX,
    batch_size: int = TILE_BATCH_SIZE,
    progress: bool = False,
) -> np.ndarray:
    """Class ids (h, w) uint8 of one frame (h, w) in ADU, of any size.

    The whole frame is normalised once (`models.normalise_frames` with the
    model card's normalisation; NaN and inf pixels are left out of the
    statistics), then segmented in overlapping tiles (`segment_normalised`).
    NaN and inf pixels are class 0 (background); count them with
    `~np.isfinite(frame)`. A frame whose pixels are all NaN or inf raises
    `UserInputError`.
    """
    frame = np.asarray(frame, dtype=np.float32)
    if frame.ndim != 2 or min(frame.shape) < 1:
        raise UserInputError(f"expected one frame (h, w), got shape {frame.shape}")
    masked = ~np.isfinite(frame)
    if masked.all():
        raise UserInputError(f"all {frame.size} pixels of the frame are NaN or infinite")
    normalised = _normalise_for(model, frame)
    classes = segment_normalised(model, normalised, tile_px, margin_px, batch_size, progress)
    classes[masked] = BACKGROUND
    return classes


def _as_stack(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or min(images.shape[1:]) < 1:
        raise UserInputError(f"expected a frame (h, w) or a stack (n, h, w), got shape {images.shape}")
    return images


def load_frames(path: Path) -> np.ndarray:
    """Frames from a .npy stack (n, h, w) / frame (h, w), or a folder / file of PNG images."""
    from load_dataset import load_images

    if path.is_dir():
        return load_images(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such file or folder")
    if path.suffix.lower() == ".png":
        return load_images(path.parent, path.name)
    try:
        return _as_stack(np.load(path, allow_pickle=False))
    except (ValueError, OSError, EOFError) as exc:
        raise UserInputError(f"{path}: not a readable .npy array ({exc})") from None


def evaluate(prediction: np.ndarray, truth: np.ndarray) -> tuple[dict, str]:
    """Scores (per-class precision, recall, F1, IoU, support) and the classification report."""
    if prediction.shape != truth.shape:
        raise UserInputError(f"truth shape {truth.shape} differs from the frames' {prediction.shape}")
    return score_labels(prediction, truth), classification_report(prediction, truth)


def predict_and_report(
    model, images: np.ndarray, truth: np.ndarray | None, output: Path, force: bool = False, figures: int = 10
) -> dict:
    """Predict frames, save figures and a report to `output`, return the scores (or percentages)."""
    report_path = output / "prediction_report.txt"
    if report_path.exists() and not force:
        raise UserInputError(f"{report_path}: exists; use --force to overwrite")
    output.mkdir(parents=True, exist_ok=True)
    prediction = predict_classes(model, images)
    prediction = prediction[None] if prediction.ndim == 2 else prediction
    lines = [f"predicted class percentages: {format_percentages(get_percentages(prediction))}"]
    result: dict = {"percentages": get_percentages(prediction).tolist()}
    if truth is not None:
        scores, report = evaluate(prediction, truth)
        result["scores"] = scores
        lines += ["classification report against the truth:", report]
    for i in range(min(figures, len(images))):
        visualize_label(
            images[i],
            None if truth is None else truth[i],
            prediction[i],
            path=output / f"prediction_{i:04d}.png",
            title=f"frame {i}",
            show=False,
        )
    report_path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


# %% FITS detector frames
def fits_inputs(path: Path) -> list[Path]:
    """The FITS files to segment: `path` itself, or the FITS files of a folder, sorted by name.

    Class maps written by this module (`*_segmentation.fits`) are not taken
    from a folder, so an output folder can also be the input folder.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.is_file() and is_fits_name(p) and not p.name.endswith(SEGMENTATION_SUFFIX)
        )
        if not files:
            raise UserInputError(f"{path}: no FITS file (.fits, .fit, .fts, .fz, gzipped) in this folder")
        return files
    if not path.exists():
        raise UserInputError(f"{path}: no such file or folder")
    return [path]


def output_stem(path: Path, hdu: int | str | None, plane: int | None) -> str:
    """Name stem of a frame's outputs: the file's stem, plus the HDU when chosen and the cube plane."""
    stem = fits_stem(path)
    if hdu is not None:
        stem += "_" + "".join(c if c.isalnum() or c in "-_" else "_" for c in str(hdu))
    return stem if plane is None else f"{stem}_plane{plane}"


def segment_fits_frame(
    model,
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
) -> str:
    """Segment one FITS image plane and write its outputs to `output`; return a one-line summary.

    Writes `STEM_segmentation.fits` (uint8 class map of the plane's shape,
    the input header, the class legend CLASS0..CLASS3, class percentages
    SEGPCT0..3, masked pixel count SEGNMASK) and `STEM_overview.png`
    (frame | predicted label, class percentages in the legend); with `find`,
    also `STEM_CLASS_sections.txt` and one figure per section holding that
    class (at most `figures`). Files are written atomically and never
    replaced without `force`. Raises `UserInputError` naming the file.
    """
    stem = output_stem(path, hdu, plane)
    segmentation_path = output / f"{stem}{SEGMENTATION_SUFFIX}"
    overview_path = output / f"{stem}_overview.png"
    for target in (segmentation_path, overview_path):
        if target.exists() and not force:
            raise UserInputError(f"{target}: exists; use --force to overwrite")
    frame = process_fits(path, hdu, plane, region)
    classes = segment_frame(model, frame.data, tile_px, margin_px, batch_size, progress)
    notes = {
        "SEGMODEL": (Path(getattr(model, "ccd_path", model.name)).name[-60:], "model file"),
        "SEGTILE": (tile_px, "largest tile given to the model, px"),
        "SEGMARG": (margin_px, "tile margin whose prediction is dropped, px"),
        "SEGPREC": (getattr(model, "ccd_card", {}).get("precision", "float32"), "model arithmetic"),
    }
    write_segmentation_fits(segmentation_path, frame, classes, notes, force)
    image = fill_masked(frame.data)
    title = f"{path.name} {frame.where} {frame.region_text}: {frame.n_masked} masked px"
    write_atomically(overview_path, lambda tmp: visualize_label(image, None, classes, tmp, title, show=False), force)
    height, width = classes.shape
    summary = (
        f"{path}: {frame.where}: {height} x {width} px, {format_percentages(get_percentages(classes))};"
        f" {frame.n_masked} masked px (NaN/inf/BLANK, set to background) -> {segmentation_path}"
    )
    if find is not None:
        name = CLASS_NAMES[class_id(find)]
        found = check_one_object(image, classes, find, output=output, stem=stem, max_figures=figures, show=False,
                                 force=force)
        listing = output / f"{stem}_{name.replace(' ', '_')}_sections.txt"
        write_atomically(listing, lambda tmp: tmp.write_text(format_sections(found, find) + "\n"), force)
        summary += f"; {len(found)} sections with {name} listed in {listing.name}"
    return summary


def segment_fits(model, path: Path, output: Path, plane: int | None = None, **options) -> int:
    """Segment a FITS file or every FITS file of a folder, frame by frame; return the number that failed.

    Every plane of a cube is a frame unless `plane` picks one. A bad frame
    is reported in one line on stderr and skipped; the others go on.
    `options` are those of `segment_fits_frame`.
    """
    files = fits_inputs(path)
    failed = segmented = 0
    for file in tqdm(files, desc="FITS files", unit="file", disable=len(files) == 1):
        try:
            planes = [plane] if plane is not None else fits_planes(file, options.get("hdu"))
        except UserInputError as exc:
            tqdm.write(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        for frame_plane in planes:
            try:
                tqdm.write(segment_fits_frame(model, file, output, plane=frame_plane, **options))
                segmented += 1
            except UserInputError as exc:
                tqdm.write(f"error: {exc}", file=sys.stderr)
                failed += 1
            except Exception as exc:  # one odd frame must not stop a night's batch of thousands
                message = " ".join(str(exc).split())[:200]
                tqdm.write(f"error: {file}: {type(exc).__name__}: {message}", file=sys.stderr)
                failed += 1
            gc.collect()  # figures hold frame-sized arrays in reference cycles; free them before the next frame
    if len(files) > 1:
        print(f"{len(files)} files: {segmented} frames segmented, {failed} failed", file=sys.stderr)
    return failed


# %% Command line
def _hdu_argument(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.strip().isdigit() else text


def main(argv: list[str] | None = None) -> int:
    """Predict .npy stacks, PNG images or FITS detector frames with a trained model."""
    parser = argparse.ArgumentParser(description="Segment CCD frames with a trained U-Net.")
    parser.add_argument("--data", type=Path, help=".npy stack (n, h, w) ADU, a PNG file or a folder of PNGs")
    parser.add_argument("--truth", type=Path, help=".npy truth class ids (n, h, w) to evaluate against")
    parser.add_argument("--fits", type=Path, help="FITS file or folder: a class map FITS and a PNG per frame")
    parser.add_argument("--hdu", help="FITS image HDU, index or EXTNAME (default: the first 2-D image)")
    parser.add_argument("--plane", type=int, help="plane of a 3-D FITS cube, 0-based (default: every plane)")
    parser.add_argument("--region", help="part of each FITS frame: [x1:x2,y1:y2] (1-based) or a keyword (DATASEC)")
    parser.add_argument("--find", help="also list and draw the FITS frame's sections holding this class (cluster, ...)")
    parser.add_argument("--model", type=Path, default=None, help="a .keras model (default: the shipped one)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--figures", type=int, default=SECTION_FIGURES, help="frames or --find sections to draw")
    parser.add_argument("--tile", type=int, default=TILE_SIZE_PX, help="largest tile side given to the model, px")
    parser.add_argument("--margin", type=int, default=MARGIN_PX, help="tile margin whose prediction is dropped, px")
    parser.add_argument("--batch-size", type=int, default=TILE_BATCH_SIZE, help="tiles per model call (--fits)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="bfloat16: nearly twice as fast on CPUs with AVX512-BF16, slightly different maps")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = parser.parse_args(argv)
    try:
        if (args.data is None) == (args.fits is None):
            raise UserInputError("give either --data (.npy or PNG) or --fits (FITS file or folder)")
        if args.batch_size < 1:
            raise UserInputError(f"--batch-size must be at least 1, not {args.batch_size}")
        if args.fits is not None:
            if args.find is not None:
                class_id(args.find)
            fits_inputs(args.fits)
            model = with_precision(load_trained_model(args.model), args.precision)
            plan_sections((args.tile, args.tile), args.tile, args.margin, model_multiple(model))
            failed = segment_fits(
                model,
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
            )
            return 1 if failed else 0
        images = load_frames(args.data)
        truth = None
        if args.truth is not None:
            truth = load_frames(args.truth).astype(np.uint8)
        model = with_precision(load_trained_model(args.model), args.precision)
        predict_and_report(model, images, truth, args.output, args.force, args.figures)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; files written so far are complete, none is half-written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
