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
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cluster_library import load_cluster_library
from image_details import LAYOUTS, SimulationParameters, random_parameters, simulate_frame
from classes import format_percentages, get_percentages
from errors import UserInputError, run_command
from mask import get_class
from safe_write import refuse_existing, save_array, write_atomically
from scoring import classification_report, score_labels

# %% Settings - edit here when running top to bottom in Spyder
REPO = Path(__file__).resolve().parent
COUNT = 200
SEED = 1
LAYOUT = "mixed"
NAME = "training"
SIZE = (256, 256)
WORK_BYTES_PER_PX = 48  # float64 noise, charge and masks of the frame being built


# %% Functions
def default_folder(name: str, root: Path = REPO) -> Path:
    """`Images/Test` for a set named 'test', otherwise `Images/Train`."""
    return root / "Images" / ("Test" if name.lower().startswith("test") else "Train")


def simulate_frames(
    count: int,
    seed: int,
    layout: str = LAYOUT,
    size: tuple[int, int] = SIZE,
    params: SimulationParameters | None = None,
    vary_physics: bool = False,
    progress: bool = True,
    library: list[np.ndarray] | None = None,
    draw_params: Callable[[np.random.Generator], SimulationParameters] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate `count` frames: the one simulation loop of the project.

    Returns images (n, h, w) float32 ADU, truth (n, h, w) uint8 class ids and
    the deposited cluster charge (n, h, w) float32 ADU. Frame i uses its own
    generator spawned from `seed`, so it does not depend on `count`. With
    `vary_physics` each frame draws its own pedestal, noise, gain and
    intensities (`image_details.random_parameters`), for training robust
    models; `draw_params` replaces that draw (held-out physics);
    `library` replaces `Cluster.pkl` (held-out cluster populations).
    """
    check_request(count, seed, size)
    library = library if library is not None else load_cluster_library()
    draw_params = draw_params or (random_parameters if vary_physics else None)
    images = np.empty((count, *size), dtype=np.float32)
    truth = np.empty((count, *size), dtype=np.uint8)
    cluster_adu = np.empty((count, *size), dtype=np.float32)
    seeds = np.random.SeedSequence(seed).spawn(count)
    for i in tqdm(range(count), desc="simulating", unit="frame", disable=not progress, leave=False):
        rng = np.random.default_rng(seeds[i])
        frame_params = draw_params(rng) if draw_params is not None else params
        frame = simulate_frame(rng, frame_params, layout, size, library)
        images[i], truth[i], cluster_adu[i] = frame.image, frame.truth, frame.cluster_adu
    return images, truth, cluster_adu


def available_memory_bytes() -> int:
    """Memory the system can give now (MemAvailable of /proc/meminfo; physical memory elsewhere)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_request(count: int, seed: int, size: tuple[int, int]) -> None:
    """Refuse, in one line, a data set that cannot be made: bad count, seed or size, or too big for memory.

    A data set holds 9 bytes a pixel (image, truth, charge); building one
    frame takes about `WORK_BYTES_PER_PX` more per pixel of that frame.
    """
    if count < 1:
        raise UserInputError(f"--count must be at least 1, not {count}")
    if seed < 0:
        raise UserInputError(f"--seed must be 0 or more, not {seed}")
    if len(size) != 2 or min(size) < 1:
        raise UserInputError(f"--size must be two positive numbers of pixels, not {' '.join(map(str, size))}")
    height, width = size
    needed = count * height * width * 9 + height * width * WORK_BYTES_PER_PX
    available = available_memory_bytes()
    if needed > available:
        raise UserInputError(
            f"{count} frames of {height} x {width} px need about {needed / 2**30:.1f} GiB of memory;"
            f" {available / 2**30:.1f} GiB is available: make fewer or smaller frames"
        )


def simulate_dataset(
    count: int,
    seed: int,
    layout: str = LAYOUT,
    size: tuple[int, int] = SIZE,
    params: SimulationParameters | None = None,
    vary_physics: bool = False,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate `count` frames: images (n, h, w) float32 ADU and truth (n, h, w) uint8 (`simulate_frames`)."""
    images, truth, _ = simulate_frames(count, seed, layout, size, params, vary_physics, progress)
    return images, truth


def dataset_paths(folder: Path, name: str) -> tuple[Path, Path]:
    """The (data, truth) .npy paths of data set `name` in `folder`."""
    return folder / f"{name}_data.npy", folder / f"{name}_truth.npy"


def save_dataset(
    images: np.ndarray, truth: np.ndarray, folder: Path, name: str, force: bool = False, png: bool = False
) -> list[Path]:
    """Write NAME_data.npy and NAME_truth.npy (and PNGs), atomically; refuse to overwrite unless `force`."""
    paths = list(dataset_paths(folder, name))
    refuse_existing(paths, force)
    for path, array in zip(paths, (images, truth)):
        save_array(path, array, force=True)
    if png:
        paths += save_pngs(images, truth, folder / f"{name}_png", force)
    return paths


def holds_dataset(folder: Path, name: str, images: np.ndarray, truth: np.ndarray) -> bool:
    """True when NAME_data.npy and NAME_truth.npy in `folder` hold exactly these arrays."""
    from load_dataset import load_npy

    paths = dataset_paths(folder, name)
    if not all(p.is_file() for p in paths):
        return False
    try:
        stored = [load_npy(p) for p in paths]
    except UserInputError:
        return False
    return all(a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
               for a, b in zip(stored, (images, truth)))


def save_pngs(images: np.ndarray, truth: np.ndarray, folder: Path, force: bool = False) -> list[Path]:
    """One 16-bit grey PNG per frame (ADU, clipped to 0..65535) and one colour PNG of its truth, atomically."""
    import cv2

    from figures import mask_to_label

    written = []
    for i, (image, labels) in enumerate(zip(images, truth)):
        grey = np.clip(np.rint(image), 0, 65535).astype(np.uint16)
        rgb = (mask_to_label(labels) * 255).round().astype(np.uint8)[..., ::-1]
        for path, pixels in ((folder / f"image_{i:04d}.png", grey), (folder / f"label_{i:04d}.png", rgb)):
            written.append(write_atomically(path, lambda tmp, pixels=pixels: cv2.imwrite(str(tmp), pixels), force))
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
    parser = argparse.ArgumentParser(description="Simulate CCD frames with exact truth labels.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--count", type=int, default=COUNT, help="number of frames")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the frames (0 or more)")
    parser.add_argument("--layout", choices=LAYOUTS, default=LAYOUT)
    parser.add_argument("--name", default=NAME, help="'training' or 'test' (sets the default folder)")
    parser.add_argument("--output", type=Path, default=None, help="folder (default Images/Train or Images/Test)")
    parser.add_argument("--size", type=int, nargs=2, default=SIZE, metavar=("H", "W"), help="frame size, px")
    parser.add_argument("--vary-physics", action="store_true", help="draw pedestal, noise, intensities per frame")
    parser.add_argument("--png", action="store_true", help="also write one PNG per frame")
    parser.add_argument("--report", action="store_true", help="score the threshold labels against the truth")
    parser.add_argument("--force", action="store_true", help="overwrite existing files that differ")
    args = parser.parse_args(argv)
    folder = args.output or default_folder(args.name)

    def run() -> None:
        check_request(args.count, args.seed, tuple(args.size))
        images, truth = simulate_dataset(args.count, args.seed, args.layout, tuple(args.size),
                                         vary_physics=args.vary_physics)
        if not args.force and holds_dataset(folder, args.name, images, truth) and not args.png:
            print(f"unchanged: {folder / args.name}_data.npy and _truth.npy already hold these frames")
        else:
            written = save_dataset(images, truth, folder, args.name, force=args.force, png=args.png)
            print(f"wrote {written[0]} and {written[1]}" + (f" and {len(written) - 2} PNGs" if args.png else ""))
        print("class percentages: " + format_percentages(get_percentages(truth)))
        if args.report:
            print(threshold_report(images, truth))

    return run_command(run)

if __name__ == "__main__":
    raise SystemExit(main())
