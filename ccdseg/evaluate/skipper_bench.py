"""The benchmark on skipper-CCD amplifier frames (DAMIC-M): the model against the experiment's reconstruction and photutils.

Test frames are simulated amplifier frames of 320 x 640 px over the whole
DAMIC-M range (`skipper_targets.skipper_test_frames`, seeds no model was
trained on), and frames of the preset at 2 electrons per pixel of dark
current, where fakes are likeliest. The classical methods are tuned on
validation frames of their own seed (by the object F1, fewer fakes
breaking ties, `finders.tune_finder`), as on the 2020 frames. Every method
is scored deposit by deposit (`skipper_targets.skipper_scores`), and its
catalogue's spectrum gives the energy of the 5.9 keV line. Frames beyond the
range the skipper model was trained on (`BEYOND_RANGE`: the dark current of
science frames, far below the DAMIC-M test frame's; readout noise near where
single electrons stop being resolved), and frames of the range as
tile-compressed files store them (`STORED`: quantised, with and without
dither), show whether each frame is still recognised and what the methods
make of it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ccdseg.evaluate import skipper_targets as targets
from ccdseg.evaluate.finders import tune_finder
from ccdseg.evaluate import reference
from ccdseg.evaluate.reference import calibrated_photutils_labels, reference_labels
from ccdseg.infer.catalogue import cluster_catalogue
from ccdseg.io.compression import stored_values
from ccdseg.measure.background import frame_background, single_electrons
from ccdseg.simulate.detector import random_detector

# %% Defaults
TEST_SEED, DARK_SEED, VALIDATION_SEED, BEYOND_SEED = 8101, 8102, 8201, 8301  # apart from every training seed
DARK_CURRENT_ELECTRONS = 2.0
BEYOND_RANGE = {  # the DAMIC-M range (`detector.random_detector`) with one figure moved outside what was trained on
    "dark current 0.001 e/px": {"dark_current_electrons_per_pixel": 0.001},
    "dark current 0.005 e/px": {"dark_current_electrons_per_pixel": 0.005},
    "readout noise 0.33 e": {"noise_electrons": 0.33},
}
STORED = {  # frames of the DAMIC-M range as a tile-compressed file stores them at fpack's step: dithered or not
    "stored as fpack does (-q 4, dithered)": True,
    "stored at fpack's step without dither": False,
}


# %% Methods
def classical_skipper_methods(validation_count: int) -> tuple[dict, dict]:
    """The reference reconstruction and photutils, tuned on `validation_count` validation amplifier frames.

    Returns (name -> frame (h, w) ADU -> class ids, name -> tuned parameters and validation scores).
    """
    frames = targets.skipper_test_frames(validation_count, VALIDATION_SEED)
    images, truth, charge = (np.stack([getattr(f, k) for f in frames]) for k in ("image", "truth", "cluster_adu"))
    methods, tuning = {}, {}
    for name, finder, grid in (("reference reconstruction", reference_labels, reference.REFERENCE_GRID),
                               ("photutils", calibrated_photutils_labels, reference.PHOTUTILS_GRID)):
        parameters, scores = tune_finder(name, images, truth, charge, grid=grid, finder=finder)
        methods[name] = lambda frame, f=finder, p=parameters: f(frame, None, **p)
        tuning[name] = {"parameters": parameters, "validation": scores}
        print(f"tuned {name} on skipper frames: {parameters} (validation object F1 {scores['f1']:.3f})")
    return methods, tuning


def line_energy(frames: list, predictions: np.ndarray) -> float:
    """The 5.9 keV line's energy (keV) in the catalogue of a method's class maps, each frame calibrated on its own."""
    energies = []
    for frame, classes in zip(frames, predictions):
        background = frame_background(frame.image)
        catalogue = cluster_catalogue(frame.image, classes, pedestal_adu=background.level_adu,
                                      gain_adu_per_electron=background.gain_adu_per_electron)
        energies.append(catalogue["energy_kev"])
    return targets.line_energy_kev(np.concatenate(energies)) if energies else float("nan")


# %% Measurement
def measure_skipper(methods: dict[str, Callable[[np.ndarray], np.ndarray]], test_count: int, dark_count: int) -> dict:
    """Every skipper figure of every method on `test_count` varied and `dark_count` dark amplifier frames.

    Each method is also judged as a real frame is, against the experiment's
    reconstruction with its own settings (`reference_labels`' defaults, not
    the benchmark's tuned ones; `skipper_targets.against_reconstruction`).
    """
    frames = targets.skipper_test_frames(test_count, TEST_SEED)
    dark = targets.dark_frames(dark_count, DARK_SEED, DARK_CURRENT_ELECTRONS)
    results = {"frames": test_count, "dark_frames": dark_count, "shape_px": list(frames[0].image.shape),
               "dark_current_electrons": DARK_CURRENT_ELECTRONS, "methods": {}}
    experiment = reference_labels(np.stack([frame.image for frame in frames]))  # with the experiment's own settings
    for name, label in methods.items():
        started = time.perf_counter()
        predictions = np.stack([label(frame.image) for frame in frames])
        seconds = (time.perf_counter() - started) / len(frames)
        scores = targets.skipper_scores(frames, predictions)
        scores["line_kev"] = line_energy(frames, predictions)
        dark_predictions = np.stack([label(frame.image) for frame in dark])
        scores["fakes_per_frame_dark"] = targets.skipper_scores(dark, dark_predictions)["fakes_per_frame"]
        scores["seconds_per_frame"] = seconds
        scores["against_reconstruction"] = targets.against_reconstruction(frames, predictions, experiment)
        results["methods"][name] = scores
        print(f"skipper: {name}: 5.9 keV found {scores['line_found']:.4f}, line {scores['line_kev']:.3f} keV,"
              f" tracks {scores['track_cluster']:.4f} ± {scores['track_cluster_error']:.4f},"
              f" fakes {scores['fakes_per_frame']:.2f}"
              f" ({scores['fakes_per_frame_dark']:.2f} at {DARK_CURRENT_ELECTRONS:g} e/px), glow F1"
              f" {scores['glowing_f1']:.3f}, hot F1 {scores['hot_pixel_f1']:.3f}", flush=True)
    return results


def beyond_range_frames(count: int) -> dict[str, list]:
    """`count` frames (seed `BEYOND_SEED`) of each case of `BEYOND_RANGE`, and of the DAMIC-M range as `STORED`."""
    cases = {case: targets.skipper_test_frames(count, BEYOND_SEED,
                                               detector=lambda rng, c=change: replace(random_detector(rng), **c))
             for case, change in BEYOND_RANGE.items()}
    frames = targets.skipper_test_frames(count, BEYOND_SEED)
    for case, dither in STORED.items():
        cases[case] = [replace(frame, image=stored_values(frame.image, dither)) for frame in frames]
    return cases


def measure_beyond_range(methods: dict[str, Callable[[np.ndarray], np.ndarray]], count: int) -> dict:
    """Figures of every method on `count` frames of each case of `beyond_range_frames`, and how many are recognised.

    Recognised: `background.single_electrons` finds their single electrons
    resolved, so the shipped pair gives them the skipper model.
    """
    results = {"frames": count, "cases": {}}
    for case, frames in beyond_range_frames(count).items():
        recognised = sum(single_electrons(frame.image) is not None for frame in frames)
        scores = {name: targets.skipper_scores(frames, np.stack([label(frame.image) for frame in frames]))
                  for name, label in methods.items()}
        results["cases"][case] = {"recognised": recognised, "methods": scores}
        print(f"skipper beyond the range: {case}: {recognised} of {count} recognised; "
              + "; ".join(f"{name} fakes {s['fakes_per_frame']:.2f}, tracks {s['track_cluster']:.4f}" for name, s in scores.items()),
              flush=True)
    return results
