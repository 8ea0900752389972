"""Make simulated CCD data sets: frames in ADU and their exact truth class maps.

    python image_simulation.py --count 200 --seed 1            # Images/Train/training_*
    python image_simulation.py --name test --count 42 --seed 2 # Images/Test/test_*

Writes `NAME_data.npy` (n, h, w) float32 ADU and `NAME_truth.npy` (n, h, w)
uint8 class ids; `--png` adds one PNG per frame, `--report` scores the
threshold labels of `mask.py` against the truth. The same seed gives
byte-identical files, and frame i does not depend on how many are made.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from image_details import LAYOUTS, SimulationParameters, load_cluster_library, random_parameters, simulate_frame
from mask import (
    UserInputError,
    classification_report,
    format_percentages,
    get_class,
    get_percentages,
    score_labels,
)

# %% Settings - edit here when running top to bottom in Spyder
REPO = Path(__file__).resolve().parent
COUNT = 200
SEED = 1
LAYOUT = "mixed"
NAME = "training"
SIZE = (256, 256)


# %% Functions
def default_folder(name: str, root: Path = REPO) -> Path:
    """`Images/Test` for a set named 'test', otherwise `Images/Train`."""
    return root / "Images" / ("Test" if name.lower().startswith("test") else "Train")


def simulate_dataset(
    count: int,
    seed: int,
    layout: str = LAYOUT,
    size: tuple[int, int] = SIZE,
    params: SimulationParameters | None = None,
    vary_physics: bool = False,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate `count` frames.

    Returns images (n, h, w) float32 ADU and truth (n, h, w) uint8 class ids.
    Frame i uses its own generator spawned from `seed`. With `vary_physics`
    each frame draws its own pedestal, noise, gain and intensities
    (`image_details.random_parameters`), for training robust models.
    """
    if count < 1:
        raise UserInputError(f"--count must be at least 1, not {count}")
    library = load_cluster_library()
    images = np.empty((count, *size), dtype=np.float32)
    truth = np.empty((count, *size), dtype=np.uint8)
    seeds = np.random.SeedSequence(seed).spawn(count)
    for i in tqdm(range(count), desc="simulating", unit="frame", disable=not progress, leave=False):
        rng = np.random.default_rng(seeds[i])
        frame_params = random_parameters(rng) if vary_physics else params
        frame = simulate_frame(rng, frame_params, layout, size, library)
        images[i], truth[i] = frame.image, frame.truth
    return images, truth


def dataset_paths(folder: Path, name: str) -> tuple[Path, Path]:
    """The (data, truth) .npy paths of data set `name` in `folder`."""
    return folder / f"{name}_data.npy", folder / f"{name}_truth.npy"


def refuse_existing(paths: list[Path], force: bool) -> None:
    """Raise `UserInputError` naming the first of `paths` that exists, unless `force`."""
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise UserInputError(f"{existing[0]}: exists; use --force to overwrite")


def save_dataset(
    images: np.ndarray, truth: np.ndarray, folder: Path, name: str, force: bool = False, png: bool = False
) -> list[Path]:
    """Write NAME_data.npy and NAME_truth.npy (and PNGs); refuse to overwrite unless `force`."""
    paths = list(dataset_paths(folder, name))
    refuse_existing(paths, force)
    folder.mkdir(parents=True, exist_ok=True)
    for path, array in zip(paths, (images, truth)):
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as handle:
            np.save(handle, array)
        tmp.replace(path)
    if png:
        paths += save_pngs(images, truth, folder / f"{name}_png")
    return paths


def save_pngs(images: np.ndarray, truth: np.ndarray, folder: Path) -> list[Path]:
    """One 16-bit grey PNG per frame (ADU, clipped to 0..65535) and one colour PNG of its truth."""
    import cv2

    from mask import mask_to_label

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (image, labels) in enumerate(zip(images, truth)):
        grey = folder / f"image_{i:04d}.png"
        label = folder / f"label_{i:04d}.png"
        cv2.imwrite(str(grey), np.clip(np.rint(image), 0, 65535).astype(np.uint16))
        rgb = (mask_to_label(labels) * 255).round().astype(np.uint8)
        cv2.imwrite(str(label), rgb[..., ::-1])
        written += [grey, label]
    return written


def threshold_report(images: np.ndarray, truth: np.ndarray, params: SimulationParameters | None = None) -> str:
    """The classification report of the threshold labels against the exact truth."""
    labels = get_class(images, params)
    scores = score_labels(labels, truth)
    f1 = ", ".join(f"{name} {s['f1']:.3f}" for name, s in scores.items() if "f1" in s)
    return f"threshold labels vs truth, F1: {f1}\n" + classification_report(labels, truth)


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Simulate a data set and save it; print class percentages."""
    parser = argparse.ArgumentParser(description="Simulate CCD frames with exact truth labels.")
    parser.add_argument("--count", type=int, default=COUNT, help="number of frames")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--layout", choices=LAYOUTS, default=LAYOUT)
    parser.add_argument("--name", default=NAME, help="'training' or 'test' (sets the default folder)")
    parser.add_argument("--output", type=Path, default=None, help="folder (default Images/Train or Images/Test)")
    parser.add_argument("--size", type=int, nargs=2, default=SIZE, metavar=("H", "W"))
    parser.add_argument("--vary-physics", action="store_true", help="draw pedestal, noise, intensities per frame")
    parser.add_argument("--png", action="store_true", help="also write one PNG per frame")
    parser.add_argument("--report", action="store_true", help="score the threshold labels against the truth")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    folder = args.output or default_folder(args.name)
    try:
        refuse_existing(list(dataset_paths(folder, args.name)), args.force)
        images, truth = simulate_dataset(args.count, args.seed, args.layout, tuple(args.size), vary_physics=args.vary_physics)
        written = save_dataset(images, truth, folder, args.name, force=args.force, png=args.png)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {written[0]} and {written[1]}" + (f" and {len(written) - 2} PNGs" if args.png else ""))
    print("class percentages: " + format_percentages(get_percentages(truth)))
    if args.report:
        print(threshold_report(images, truth))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
