"""Make simulated CCD data sets: frames in ADU and their exact truth class maps (the original's image_simulation.py).

    python image_simulation.py --count 200 --seed 1                  # Images/Train/training_* (2020 DAMIC frames)
    python image_simulation.py --name test --count 42 --seed 2       # Images/Test/test_*
    python image_simulation.py --detector damic-m --count 20         # skipper-CCD amplifier frames, 320 x 640
    python image_simulation.py --vary-physics --count 200            # each frame its own physics, both kinds
    python image_simulation.py --like run.fits.fz --hdu CCD_A        # frames like a measured one (fit, JSON)
    python image_simulation.py --detector damic-m --fits --count 3   # files of 4 amplifiers, as the experiments'

Writes `NAME_data.npy` (n, h, w) float32 ADU and `NAME_truth.npy` (n, h, w)
uint8 class ids (with `--fits`, `NAME_0000.fits.fz` ... and their truth in
`truth/`), and for skipper frames `NAME_detector.json`, the physics used.
`--png` adds one PNG per frame, `--report` scores the threshold labels of
`mask.py` against the truth. The same seed gives byte-identical files, and
frame i does not depend on how many are made. The simulation loop is
`ccdseg.simulate.datasets.simulate_frames`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ccdseg.core import paths
from ccdseg.core.classes import CLASS_NAMES, format_percentages, get_percentages
from ccdseg.core.errors import UserInputError, run_command
from ccdseg.core.safe_write import refuse_existing, save_text
from ccdseg.core.scoring import classification_report, score_labels
from ccdseg.io.arrays import holds_dataset, save_dataset
from ccdseg.io.fits import read_fits_frame, write_image_extensions
from ccdseg.simulate.datasets import check_request, simulate_dataset, simulate_frames  # noqa: F401  (the original's names)
from ccdseg.simulate.detector import PRESETS, REGIMES, Detector
from ccdseg.simulate.like_frame import detector_like
from ccdseg.simulate.parameters import LAYOUTS, SimulationParameters
from ccdseg.simulate.populations import statistics_table
from ccdseg.simulate.thresholds import get_class

# %% Settings - edit here when running top to bottom in Spyder
COUNT = 200
SEED = 1
LAYOUT = "mixed"
NAME = "training"
DETECTOR = None  # None: damic-2020, or both kinds with --vary-physics
SIZE = None  # None: 256 x 256, or 320 x 640 for damic-m amplifier frames
AMPLIFIERS = ("CCD_A", "CCD_B", "CCD_D", "CCD_C")  # the image HDUs of a DAMIC-M file, in their order


# %% Functions
def default_folder(name: str) -> Path:
    """`Images/Test` for a set named 'test', otherwise `Images/Train`."""
    return paths.TEST_IMAGES if name.lower().startswith("test") else paths.TRAIN_IMAGES


def resolve_request(detector: str | None, size: tuple[int, int] | None, vary: bool) -> tuple[str, tuple[int, int]]:
    """The detector and frame size asked for, defaults filled: damic-2020 (both with --vary-physics), 256 or 320 x 640."""
    detector = detector or ("both" if vary else "damic-2020")
    if detector == "both" and not vary:
        raise UserInputError("--detector both draws each frame's physics: add --vary-physics")
    return detector, tuple(size) if size else ((320, 640) if detector == "damic-m" else (256, 256))


def threshold_report(images: np.ndarray, truth: np.ndarray, params: SimulationParameters | None = None) -> str:
    """The classification report of the threshold labels against the exact truth."""
    labels = get_class(images, params)
    scores = score_labels(labels, truth)
    f1 = ", ".join(f"{name} {s['f1']:.3f}" for name, s in scores.items() if "f1" in s)
    return f"threshold labels vs truth, F1: {f1}\n" + classification_report(labels, truth)


def like_frame(path: Path, hdu: str | None, gain: float | None) -> tuple[Detector, dict]:
    """The detector fitted on one frame of a FITS file (`--like`), printed."""
    if gain is not None and not gain > 0:
        raise UserInputError(f"--gain must be positive, not {gain} ADU per electron")
    frame = read_fits_frame(path, None if hdu is None else (int(hdu) if hdu.isdigit() else hdu))
    try:
        detector, fit = detector_like(frame.data, gain)
    except UserInputError as exc:
        raise UserInputError(f"{path}: {frame.where}: {exc}") from None
    print(f"fitted {path} {frame.where}: gain {fit['gain_adu_per_electron']:.4f} ADU/e, noise"
          f" {fit['noise_electrons']:.3f} e, dark current {fit['dark_current_electrons_per_pixel']:.3f} e/pixel,"
          f" pedestal {fit['pedestal_adu']:.2f} ADU (drift {fit['pedestal_drift_adu']:+.2f}), first column"
          f" +{fit['first_column_excess_electrons']:.2f} e, {len(fit['hot_columns'])} hot columns,"
          f" {fit['clusters_seeded']} seeded clusters")
    return detector, {"like": str(path), "hdu": frame.hdu_name, "fit": fit}


def save_fits_dataset(images: np.ndarray, truth: np.ndarray, folder: Path, name: str, force: bool) -> list[Path]:
    """Files of 4 amplifiers each (`AMPLIFIERS`), tile-compressed, as the experiments write them; truth in `truth/`.

    Frame i of the stack is amplifier i % 4 of file i // 4. The primary HDU
    holds the readout configuration (NROW, NCOL, NSBIN, NPBIN, EXPOSURE,
    IMAGE = 'averaged'); the truth files hold uint8 class maps, CLASS0..3.
    """
    files = len(images) // len(AMPLIFIERS)
    if files == 0:
        raise UserInputError(f"--fits writes files of {len(AMPLIFIERS)} amplifiers: make at least that many frames")
    rows, cols = images.shape[1:]
    primary = {"NROW": (rows, "rows read per amplifier"), "NCOL": (cols, "columns read per amplifier"),
               "NSBIN": (1, "serial binning"), "NPBIN": (1, "parallel binning"), "EXPOSURE": (3600, "s, simulated"),
               "IMAGE": ("averaged", "skipper samples averaged"), "ORIGIN": ("ccdseg image_simulation.py", "")}
    legend = {f"CLASS{cid}": (n, f"pixel value {cid} in this class map") for cid, n in enumerate(CLASS_NAMES)}
    paths_out = [folder / f"{name}_{i:04d}.fits.fz" for i in range(files)]
    refuse_existing(paths_out + [folder / "truth" / p.name for p in paths_out], force)
    for i, path in enumerate(paths_out):
        amps = range(i * len(AMPLIFIERS), (i + 1) * len(AMPLIFIERS))
        write_image_extensions(path, [(amp, images[k], {}) for amp, k in zip(AMPLIFIERS, amps)], primary, True)
        write_image_extensions(folder / "truth" / path.name, [(amp, truth[k], legend) for amp, k in zip(AMPLIFIERS, amps)],
                               primary, True)
    return paths_out


# %% Command line
def main(argv: list[str] | None = None) -> int:
    """Simulate a data set and save it; print class percentages."""
    parser = argparse.ArgumentParser(description="Simulate CCD frames with exact truth labels.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--count", type=int, default=COUNT, help="number of frames (with --fits: of files)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the frames (0 or more)")
    parser.add_argument("--detector", choices=REGIMES, default=DETECTOR,
                        help="damic-2020 (the original's CCD frames), damic-m (skipper amplifier frames) or both"
                             " (with --vary-physics); default damic-2020, both with --vary-physics")
    parser.add_argument("--layout", choices=LAYOUTS, default=LAYOUT, help="where objects go (damic-2020 frames)")
    parser.add_argument("--name", default=NAME, help="'training' or 'test' (sets the default folder)")
    parser.add_argument("--output", type=Path, default=None, help="folder (default Images/Train or Images/Test)")
    parser.add_argument("--size", type=int, nargs=2, default=SIZE, metavar=("H", "W"),
                        help="frame size, px (default 256 256; 320 640 for damic-m; the measured frame's with --like)")
    parser.add_argument("--vary-physics", action="store_true", help="each frame draws its own physics from the range")
    parser.add_argument("--like", type=Path, help="a FITS frame whose physics is fitted and simulated (JSON written)")
    parser.add_argument("--hdu", help="--like: the image HDU, index or EXTNAME (default: the first 2-D image)")
    parser.add_argument("--gain", type=float, help="--like: gain in ADU per electron, when single electrons are not resolved")
    parser.add_argument("--fits", action="store_true", help="write files of 4 amplifiers (.fits.fz) instead of .npy")
    parser.add_argument("--png", action="store_true", help="also write one PNG per frame")
    parser.add_argument("--report", action="store_true", help="score the threshold labels against the truth (damic-2020)")
    parser.add_argument("--population-table", action="store_true",
                        help="print the cluster statistics of the held-out test populations and stop")
    parser.add_argument("--force", action="store_true", help="overwrite existing files that differ")
    args = parser.parse_args(argv)
    return run_command(lambda: simulate_command(args))


def simulate_command(args: argparse.Namespace) -> None:
    """The work of `main`, once the options are parsed."""
    folder = args.output or default_folder(args.name)
    if args.population_table:
        print(statistics_table(args.seed, args.count))
        return
    if args.like is not None and (args.detector or args.vary_physics):
        raise UserInputError("--like simulates the measured frame's physics: drop --detector and --vary-physics")
    if (args.hdu or args.gain is not None) and args.like is None:
        raise UserInputError("--hdu and --gain belong to --like FILE")
    detector, size = resolve_request("damic-m" if args.like else args.detector, args.size, args.vary_physics)
    if args.report and detector != "damic-2020":
        raise UserInputError("--report scores the original's threshold rule, made for damic-2020 frames only")
    frames = args.count * (len(AMPLIFIERS) if args.fits else 1)
    check_request(frames, args.seed, size)
    params, description = PRESETS.get(detector), None
    if args.like is not None:
        params, description = like_frame(args.like, args.hdu, args.gain)
        size = tuple(args.size) if args.size else tuple(description["fit"]["shape_px"])
    if detector == "damic-m":
        description = {**params.to_dict(), **(description or {})} if not args.vary_physics else {"varied": "damic-m"}
    images, truth = simulate_dataset(frames, args.seed, args.layout, size, params, args.vary_physics, detector=detector)
    write_outputs(args, folder, images, truth, description)
    print("class percentages: " + format_percentages(get_percentages(truth)))
    if args.report:
        print(threshold_report(images, truth))


def write_outputs(args: argparse.Namespace, folder: Path, images: np.ndarray, truth: np.ndarray,
                  description: dict | None) -> None:
    """The data set's files: .npy pair (or FITS files), PNGs, and the detector description."""
    json_path = folder / f"{args.name}_detector.json"
    if args.fits:
        written = save_fits_dataset(images, truth, folder, args.name, args.force)
        print(f"wrote {len(written)} files of {len(AMPLIFIERS)} amplifiers: {written[0]} ... (truth in {folder / 'truth'})")
    elif not args.force and not args.png and holds_dataset(folder, args.name, images, truth):
        print(f"unchanged: {folder / args.name}_data.npy and _truth.npy already hold these frames")
        return
    else:
        written = save_dataset(images, truth, folder, args.name, force=args.force, png=args.png)
        print(f"wrote {written[0]} and {written[1]}" + (f" and {len(written) - 2} PNGs" if args.png else ""))
    if description is not None:
        save_text(json_path, json.dumps(description, indent=1) + "\n", force=True)
        print(f"wrote {json_path} (the detector's physics)")


if __name__ == "__main__":
    raise SystemExit(main())
