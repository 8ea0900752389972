"""Load a trained model, predict class maps, evaluate against the truth.

Python API:
    model = load_trained_model()          # the shipped Models/default.keras
    classes = predict_classes(model, frame)  # (h, w) or (n, h, w) ADU -> uint8 ids

Command line:
    python load_model.py --data Images/Test/test_data.npy --truth Images/Test/test_truth.npy
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mask import (
    UserInputError,
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
    card.setdefault("depth", sum("pooling" in layer.name for layer in model.layers))
    model.ccd_card = card
    return model


def model_multiple(model) -> int:
    """Frame sides the model accepts are multiples of this (2**depth)."""
    card = getattr(model, "ccd_card", {})
    depth = card.get("depth", sum("pooling" in layer.name for layer in model.layers))
    return 2 ** int(depth)


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
    import models

    images = _as_stack(images)
    normalised = models.normalise_frames(images, getattr(model, "ccd_card", {}).get("normalisation"))
    return predict_normalised(model, normalised, batch_size)


def predict_classes(model, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Class ids (uint8) of a frame (h, w) or a stack (n, h, w) of ADU values, any size."""
    images = np.asarray(images)
    classes = np.argmax(predict_probabilities(model, images, batch_size), axis=-1).astype(np.uint8)
    return classes[0] if images.ndim == 2 else classes


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


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Predict .npy stacks or PNG images with a trained model; evaluate when truth is given."""
    parser = argparse.ArgumentParser(description="Segment CCD frames with a trained U-Net.")
    parser.add_argument("--data", type=Path, help=".npy stack (n, h, w) ADU, a PNG file or a folder of PNGs")
    parser.add_argument("--truth", type=Path, help=".npy truth class ids (n, h, w) to evaluate against")
    parser.add_argument("--model", type=Path, default=None, help="a .keras model (default: the shipped one)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--figures", type=int, default=10, help="how many frames to draw")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = parser.parse_args(argv)
    try:
        if args.data is None:
            raise UserInputError("nothing to predict: give --data")
        images = load_frames(args.data)
        truth = None
        if args.truth is not None:
            truth = load_frames(args.truth).astype(np.uint8)
        model = load_trained_model(args.model)
        predict_and_report(model, images, truth, args.output, args.force, args.figures)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
