"""The figures a physicist checks on skipper-CCD frames (DAMIC-M), measured on simulated amplifier frames with truth.

Every deposit of a simulated skipper frame is known (`Frame.deposit_ids`,
`deposit_kinds`), so a method's class map can be judged deposit by deposit:

* 5.9 keV X-rays (the calibration line): share found (any pixel called
  cluster), share with any pixel called hot pixel (of its pixels whose
  truth is cluster), and the line's energy in the catalogue's spectrum;
* muon and electron tracks: shares of their pixels called cluster (all
  of them, with its standard error over frames, `ratio_standard_error`:
  every pixel holding one of the track's electrons; and those
  holding at least `VISIBLE_ELECTRONS`: a pixel of one to three electrons
  at the edge of a track lies within the dark current's spread at the
  DAMIC-M preset's one electron per pixel, and no method sees it), and
  called glowing or hot pixel;
* fake clusters per frame (predicted clusters touching no deposited charge);
* the first column and amplifier glow (glowing) and hot columns and serial
  streaks (hot pixel): pixel F1;
* particles found: deposits with any pixel called cluster, one per
  particle (`deposits_found` of `deposits`); and clusters found as
  `cluster_metrics.object_scores` counts them (8-connected truth
  components, which also counts lone halo pixels of one electron).

A real frame has no truth: it is judged against the experiment's own
reconstruction (`against_reconstruction`), which simulated frames can
emulate to show what that comparison says of a method.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy import ndimage

from ccdseg.core.classes import CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.physics import EV_PER_ELECTRON
from ccdseg.core.scoring import score_labels
from ccdseg.evaluate.cluster_metrics import object_scores
from ccdseg.simulate.detector import DAMIC_M, Detector, random_detector
from ccdseg.simulate.frame import Frame
from ccdseg.simulate.skipper import simulate_skipper_frame

# %% Defaults
LINE_KEV = 5.9
LINE_WINDOW = 0.04  # an X-ray of the 5.9 keV line holds 5.9 keV within 4 % (Fano spread 0.3 %)
TRACK_KINDS = ("muon", "electron")
VISIBLE_ELECTRONS = 4  # a track pixel holding this many of the track's electrons stands out of the dark current
TRAIL_COLUMNS = (1, 5)  # the experiment's cluster mask: columns before and after each cluster (serial transfer trail)


# %% Test frames
def skipper_test_frames(count: int, seed: int, shape: tuple[int, int] = (320, 640),
                        detector: Detector | Callable[[np.random.Generator], Detector] = random_detector) -> list[Frame]:
    """`count` simulated amplifier frames, frame i from its own generator spawned from `seed`.

    detector : one detector for all frames, or a draw per frame (default:
    the whole DAMIC-M range, `random_detector`).
    """
    frames = []
    for child in np.random.SeedSequence(seed).spawn(count):
        rng = np.random.default_rng(child)
        physics = detector(rng) if callable(detector) else detector
        frames.append(simulate_skipper_frame(rng, physics, shape))
    return frames


def dark_frames(count: int, seed: int, dark_current_electrons: float = 2.0, shape: tuple[int, int] = (320, 640)) -> list[Frame]:
    """Frames of the DAMIC-M preset at a given dark current, for the fake rate where it is hardest."""
    return skipper_test_frames(count, seed, shape, replace(DAMIC_M, dark_current_electrons_per_pixel=dark_current_electrons))


# %% Deposit by deposit
def ratio_standard_error(numerators: np.ndarray, denominators: np.ndarray) -> float:
    """Standard error of sum(numerators) / sum(denominators) over frames (n,): how much another draw of frames moves it.

    Frames are the independent unit (a frame draws its own detector and
    deposits; pixels of one track are not independent), so the error is the
    ratio estimator's over frames: sqrt(n / (n - 1) sum (a_i - R b_i)^2) /
    sum b_i. NaN for fewer than two frames or no denominator.
    """
    a, b = np.asarray(numerators, dtype=np.float64), np.asarray(denominators, dtype=np.float64)
    if a.size < 2 or b.sum() <= 0:
        return float("nan")
    ratio = a.sum() / b.sum()
    return float(np.sqrt(a.size / (a.size - 1) * np.sum((a - ratio * b) ** 2)) / b.sum())


def _deposit_table(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """Electrons of each deposit (k,) and whether it is a 5.9 keV line X-ray (k,) bool."""
    gain = frame.params.gain_adu_per_electron
    electrons = ndimage.sum_labels(frame.cluster_adu / gain, frame.deposit_ids, np.arange(1, len(frame.deposit_kinds) + 1))
    kinds = np.array(frame.deposit_kinds, dtype=object)
    line = (kinds == "x-ray") & (np.abs(electrons * EV_PER_ELECTRON / 1e3 / LINE_KEV - 1.0) < LINE_WINDOW)
    return np.asarray(electrons), line


def deposit_scores(frames: list[Frame], predictions: np.ndarray) -> dict:
    """The per-deposit figures of a method's class maps (n, h, w) on skipper `frames` (see the module's docstring)."""
    found = with_hot = lines = deposits = deposits_found = 0
    track_defect = visible_px = visible_cluster = 0
    per_frame = []  # (track pixels called cluster, track pixels) of each frame
    for frame, predicted in zip(frames, predictions):
        ids = frame.deposit_ids
        _, line = _deposit_table(frame)
        numbers = np.arange(1, len(frame.deposit_kinds) + 1)
        present = ndimage.maximum(ids > 0, ids, numbers).astype(bool) if len(numbers) else np.zeros(0, bool)
        hit = ndimage.maximum(predicted == CLUSTER, ids, numbers).astype(bool) if len(numbers) else present
        wrong_hot = (predicted == HOT_PIXEL) & (frame.truth == CLUSTER)  # a deposit on a hot column is truly hot there
        hot = ndimage.maximum(wrong_hot, ids, numbers).astype(bool) if len(numbers) else present
        deposits += int(present.sum())
        deposits_found += int((hit & present).sum())
        chosen = line & present
        lines += int(chosen.sum())
        found += int((hit & chosen).sum())
        with_hot += int((hot & chosen).sum())
        kinds = np.array(("",) + frame.deposit_kinds, dtype=object)
        track = np.isin(kinds[ids], TRACK_KINDS) & (frame.truth == CLUSTER)
        visible = track & (frame.cluster_adu >= VISIBLE_ELECTRONS * frame.params.gain_adu_per_electron)
        visible_px += int(visible.sum())
        visible_cluster += int(np.count_nonzero(predicted[visible] == CLUSTER))
        per_frame.append((int(np.count_nonzero(predicted[track] == CLUSTER)), int(track.sum())))
        track_defect += int(np.count_nonzero(np.isin(predicted[track], (GLOWING, HOT_PIXEL))))
    called, per_frame_px = np.array(per_frame, dtype=np.int64).reshape(-1, 2).T
    track_px = int(per_frame_px.sum())
    return {
        "line_x_rays": lines,
        "line_found": found / max(lines, 1),
        "line_with_hot_pixel": with_hot / max(lines, 1),
        "track_pixels": track_px,
        "track_cluster": int(called.sum()) / max(track_px, 1),
        "track_cluster_error": ratio_standard_error(called, per_frame_px),
        "track_glowing_or_hot": track_defect / max(track_px, 1),
        "track_cluster_visible": visible_cluster / max(visible_px, 1),
        "deposits": deposits,
        "deposits_found": deposits_found,
    }


def skipper_scores(frames: list[Frame], predictions: np.ndarray) -> dict:
    """Every figure of the module's docstring but the line energy, for a method's class maps (n, h, w)."""
    images = np.stack([f.image for f in frames])
    truth = np.stack([f.truth for f in frames])
    charge = np.stack([f.cluster_adu for f in frames])
    pixels = score_labels(predictions, truth)
    objects = object_scores(images, truth, charge, predictions)
    return {
        **deposit_scores(frames, predictions),
        "glowing_f1": pixels["glowing"]["f1"],
        "hot_pixel_f1": pixels["hot pixel"]["f1"],
        "cluster_f1": pixels["cluster"]["f1"],
        "clusters_true": objects["true"],
        "clusters_found": objects["found"],
        "fakes_per_frame": objects["fakes_per_frame"],
    }


def line_energy_kev(energies_kev: np.ndarray, line_kev: float = LINE_KEV) -> float:
    """The energy of the 5.9 keV line in a spectrum (catalogue energies, keV): mean of clusters near it.

    Clusters within 7 % of the line are taken, then those within 5 % of
    their median; NaN when none lies there. The window is narrow against
    the line's neighbours (6.5 and 8.0 keV) and wide against the catalogue's
    resolution, so the figure is the line's position, as a Gaussian fit's would be.
    """
    energies = np.asarray(energies_kev, dtype=np.float64)
    near = energies[np.abs(energies - line_kev) < 0.07 * line_kev]
    if near.size == 0:
        return float("nan")
    centre = float(np.median(near))
    return float(np.mean(near[np.abs(near - centre) < 0.05 * line_kev]))


# %% Against the experiment's reconstruction (how a real frame is judged)
def reconstruction_mask(clusters: np.ndarray) -> np.ndarray:
    """The experiment's cluster mask (h, w) bool: its clusters (h, w) bool and `TRAIL_COLUMNS` before and after each."""
    before, after = TRAIL_COLUMNS
    mask = clusters.copy()
    for shift in range(-before, after + 1):
        if shift > 0:
            mask[:, shift:] |= clusters[:, :-shift]
        elif shift < 0:
            mask[:, :shift] |= clusters[:, -shift:]
    return mask


def against_reconstruction(frames: list[Frame], predictions: np.ndarray, reconstructions: np.ndarray) -> dict:
    """A method's class maps (n, h, w) judged against the experiment's reconstruction (n, h, w), as a real frame is.

    Of the reconstruction's clusters (8-connected): the share with any
    pixel called cluster, and with more than half of them; of their pixels,
    the shares called cluster and called glowing or hot pixel. Of the
    method's clusters: those overlapping none of the reconstruction's
    cluster mask (`reconstruction_mask`) per frame, and of these the ones
    holding deposited charge (a real deposit the reconstruction missed;
    the rest are fakes). `frames` give the truth of that last count only.
    """
    eight = np.ones((3, 3), dtype=bool)
    clusters = any_pixel = most = pixels = called = defect = untouched = on_deposit = 0
    for frame, predicted, reconstructed in zip(frames, predictions, reconstructions):
        theirs = reconstructed == CLUSTER
        labels, count = ndimage.label(theirs, eight)
        if count:
            numbers = np.arange(1, count + 1)
            share = ndimage.mean(predicted == CLUSTER, labels, numbers)
            clusters += count
            any_pixel += int(np.sum(share > 0))
            most += int(np.sum(share > 0.5))
        pixels += int(theirs.sum())
        called += int(np.count_nonzero(predicted[theirs] == CLUSTER))
        defect += int(np.count_nonzero(np.isin(predicted[theirs], (GLOWING, HOT_PIXEL))))
        ours, found = ndimage.label(predicted == CLUSTER, eight)
        if found:
            numbers = np.arange(1, found + 1)
            alone = ~ndimage.maximum(reconstruction_mask(theirs), ours, numbers).astype(bool)
            charged = ndimage.maximum(frame.cluster_adu > 0, ours, numbers).astype(bool)
            untouched += int(alone.sum())
            on_deposit += int((alone & charged).sum())
    n = max(len(predictions), 1)
    return {
        "reconstruction_clusters": clusters,
        "any_pixel_cluster": any_pixel / max(clusters, 1),
        "most_pixels_cluster": most / max(clusters, 1),
        "pixels_cluster": called / max(pixels, 1),
        "pixels_glowing_or_hot": defect / max(pixels, 1),
        "untouched_per_frame": untouched / n,
        "untouched_on_deposit_per_frame": on_deposit / n,
    }
