"""The classical cluster finders, each at its best: hysteresis, photutils segmentation, matched filter.

Every finder labels a frame the same way. Glowing and hot pixels come from
the threshold bands of `simulate.thresholds.get_class` (pedestal and noise estimated per
frame). Those defect pixels, dilated by `defect_dilation_px` so that the
noisy edges of glowing columns and hot segments are covered, are removed
from the detection image BEFORE any labelling; the finder then marks
clusters on what is left. A cluster pixel never overwrites a glowing or hot
pixel. (The old `mask.rule_labels` grew clusters from the glowing columns
themselves and then removed the glowing pixels, which left tens of fake
"clusters" per frame along the column edges.)

Finders take images (n, h, w) or (h, w) float32 ADU and return class ids of
the same shape, uint8. `tune_finder` picks a finder's parameters on
validation frames by the cluster F1 counted on cluster objects.
"""
from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.core.scoring import score_labels
from ccdseg.evaluate.cluster_metrics import object_scores
from ccdseg.measure.background import robust_background
from ccdseg.measure.background import significance as noise_significance
from ccdseg.measure.matched_filter import matched_clusters, matched_filter, seeded_components
from ccdseg.simulate.parameters import SimulationParameters
from ccdseg.simulate.thresholds import get_class

# %% Defaults
DEFECT_DILATION_PX = 1
MIN_DEFECT_PX = 6  # glowing columns and hot segments are longer; smaller band blobs may be cluster flanks
BRIGHT_NEIGHBOUR_SIGMA = 5.0
MATCHED_SIGMAS_PX = (0.3, 0.6, 1.0)
MATCHED_THRESHOLD = 5.0
MATCHED_GROW_SIGMA = 2.0
F1_TOLERANCE = 0.002  # object F1 differences below this are ties when tuning


# %% Shared preparation
def _as_stack(images: np.ndarray) -> tuple[np.ndarray, bool]:
    """(h, w) or (n, h, w) ADU -> ((n, h, w) float32, whether the input was one frame)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim not in (2, 3) or min(images.shape) < 1:
        raise UserInputError(f"images must be (h, w) or (n, h, w), got shape {images.shape}")
    return (images[None], True) if images.ndim == 2 else (images, False)


def _frame_structure() -> np.ndarray:
    """(3, 3, 3) bool: 8-connectivity inside each frame, nothing across frames."""
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True
    return structure


def _release_cluster_flanks(labels: np.ndarray, images: np.ndarray, min_defect_px: int) -> None:
    """Give back to the background the band pixels that are the flanks of bright clusters (in place).

    A bright deposit (thousands of ADU) has pixels whose value happens to fall
    in the glowing or hot-pixel band. They form tiny band components next to
    charge well above the noise, whereas glowing columns and hot segments are
    long. Components (8-connected, per class) of fewer than `min_defect_px`
    pixels touching a non-band pixel above BRIGHT_NEIGHBOUR_SIGMA are released.
    """
    if min_defect_px <= 1:
        return
    z = noise_significance(images)
    bright = (labels == BACKGROUND) & (z >= BRIGHT_NEIGHBOUR_SIGMA)
    near_bright = ndimage.binary_dilation(bright, structure=_frame_structure())
    for cid in (GLOWING, HOT_PIXEL):
        components, count = ndimage.label(labels == cid, structure=_frame_structure())
        if count == 0:
            continue
        sizes = np.bincount(components.ravel(), minlength=count + 1)
        touches = np.bincount(components[near_bright], minlength=count + 1) > 0
        release = (sizes < min_defect_px) & touches
        release[0] = False
        labels[release[components]] = BACKGROUND


def defect_labels(
    images: np.ndarray,
    params: SimulationParameters | None = None,
    defect_dilation_px: int = DEFECT_DILATION_PX,
    min_defect_px: int = MIN_DEFECT_PX,
) -> tuple[np.ndarray, np.ndarray]:
    """Glowing and hot-pixel labels from the threshold bands, and the dilated defect mask.

    Parameters
    ----------
    images : (n, h, w) float32 ADU.
    params : simulation parameters giving the glowing and hot-pixel intensities
        (default `SimulationParameters()`); pedestal and noise come from each frame.
    defect_dilation_px : grow the glowing and hot pixels by this many pixels
        (8-connected) to cover their noisy edges.
    min_defect_px : band components smaller than this that touch bright
        charge are the flanks of bright clusters, not defects (see
        `_release_cluster_flanks`); 0 keeps every band pixel a defect.

    Returns
    -------
    labels : (n, h, w) uint8 class ids, only BACKGROUND, GLOWING and HOT_PIXEL.
    defects : (n, h, w) bool, glowing or hot pixels dilated; excluded from detection.
    """
    labels = np.asarray(
        get_class(images, params, cluster_threshold_sigma=np.inf, estimate_background=True), dtype=np.uint8
    )
    labels[(labels != GLOWING) & (labels != HOT_PIXEL)] = BACKGROUND
    _release_cluster_flanks(labels, images, min_defect_px)
    defects = labels != BACKGROUND
    if defect_dilation_px > 0 and defects.any():
        defects = ndimage.binary_dilation(defects, structure=_frame_structure(), iterations=int(defect_dilation_px))
    return labels, defects


def _prepare(images: np.ndarray, params, defect_dilation_px: int):
    """Common first step of every finder.

    Returns (stack (n, h, w) ADU, single, labels, defects, excess (n, h, w) ADU
    with defects set to 0, sigma (n, 1, 1) ADU).
    """
    stack, single = _as_stack(images)
    labels, defects = defect_labels(stack, params, defect_dilation_px)
    pedestal, sigma = robust_background(stack)
    sigma = np.maximum(sigma, np.float32(1e-6))
    excess = np.where(defects, np.float32(0.0), stack - pedestal).astype(np.float32)
    return stack, single, labels, defects, excess, sigma


def _finish(labels: np.ndarray, clusters: np.ndarray, single: bool) -> np.ndarray:
    """Put clusters on background pixels only; return the caller's shape."""
    labels[clusters & (labels == BACKGROUND)] = CLUSTER
    return labels[0] if single else labels


# %% Finder 1: hysteresis
def hysteresis_labels(
    images: np.ndarray,
    params: SimulationParameters | None = None,
    seed_sigma: float = 4.0,
    grow_sigma: float = 1.5,
    defect_dilation_px: int = DEFECT_DILATION_PX,
) -> np.ndarray:
    """Seed-and-grow hysteresis on the noise-normalised frame, defects excluded first.

    Parameters
    ----------
    images : (h, w) or (n, h, w) float32 ADU.
    params : simulation parameters for the glowing and hot-pixel bands.
    seed_sigma : a cluster holds at least one pixel this many noise sigmas above pedestal.
    grow_sigma : cluster pixels are those above this many sigmas, 8-connected to a seed.
    defect_dilation_px : dilation of the glowing and hot pixels before they are masked.

    Returns
    -------
    (h, w) or (n, h, w) uint8 class ids.
    """
    _, single, labels, defects, excess, sigma = _prepare(images, params, defect_dilation_px)
    z = excess / sigma
    clusters = seeded_components((z >= grow_sigma) & ~defects, (z >= seed_sigma) & ~defects)
    return _finish(labels, clusters, single)


# %% Finder 2: photutils segmentation
def photutils_labels(
    images: np.ndarray,
    params: SimulationParameters | None = None,
    fwhm_px: float = 1.5,
    threshold_sigma: float = 2.0,
    npixels: int = 1,
    defect_dilation_px: int = DEFECT_DILATION_PX,
) -> np.ndarray:
    """photutils `detect_sources` on the smoothed pedestal-subtracted frame, defects masked.

    The frame (defect pixels set to 0) is convolved with a normalised 2-D
    Gaussian of FWHM `fwhm_px` (`photutils.segmentation.make_2dgaussian_kernel`);
    segments are connected pixels of the smoothed frame above
    `threshold_sigma` x the RAW frame's noise (smoothing lowers the noise by
    sqrt(sum k^2), about 0.45 at FWHM 1.5 px, so 2 raw sigmas are ~4.5
    sigmas of the smoothed frame), at least `npixels` of them, with
    `mask=` the defects. Cluster pixels are the segment pixels themselves:
    the smoothed frame spreads a faint deposit over the pixels where its
    charge lies, which matches the truth rule "deposited charge >= 1 noise
    sigma" better than cutting the segments at a second level.

    Parameters
    ----------
    images : (h, w) or (n, h, w) float32 ADU.
    params : simulation parameters for the glowing and hot-pixel bands.
    fwhm_px : FWHM of the smoothing kernel, px.
    threshold_sigma : detection threshold in noise sigmas of the raw frame.
    npixels : minimum number of connected pixels of a segment.
    defect_dilation_px : dilation of the glowing and hot pixels before they are masked.

    Returns
    -------
    (h, w) or (n, h, w) uint8 class ids.
    """
    from photutils.segmentation import detect_sources, make_2dgaussian_kernel
    from photutils.utils import NoDetectionsWarning

    if fwhm_px <= 0 or npixels < 1:
        raise UserInputError(f"fwhm_px must be > 0 and npixels >= 1, got {fwhm_px} and {npixels}")
    _, single, labels, defects, excess, sigma = _prepare(images, params, defect_dilation_px)
    size = 2 * max(1, math.ceil(1.5 * fwhm_px)) + 1
    kernel = np.asarray(make_2dgaussian_kernel(fwhm_px, size=size).array, dtype=np.float32)
    clusters = np.zeros(excess.shape, dtype=bool)
    for i in range(excess.shape[0]):
        smoothed = ndimage.convolve(excess[i], kernel, mode="constant")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoDetectionsWarning)
            segments = detect_sources(
                smoothed, float(threshold_sigma * sigma[i, 0, 0]), n_pixels=int(npixels), mask=defects[i]
            )
        if segments is not None:
            clusters[i] = segments.data > 0
    return _finish(labels, clusters, single)


# %% Finder 3: matched filter (bank of Gaussian kernels)
def matched_filter_significance(
    images: np.ndarray,
    params: SimulationParameters | None = None,
    sigmas_px: tuple[float, ...] = MATCHED_SIGMAS_PX,
    defect_dilation_px: int = DEFECT_DILATION_PX,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Matched-filter significance, max over a bank of Gaussian kernels.

    For each kernel k the significance is (z correlated with k) / sqrt(sum k^2)
    where z = (frame - pedestal) / noise with defect pixels set to 0: in
    pure noise it is N(0, 1) at every pixel, and for a deposit of shape k it
    is the likelihood-ratio statistic.

    Returns
    -------
    significance : (n, h, w) float32, max over the bank, noise sigmas.
    z : (n, h, w) float32 normalised frame (defects 0).
    labels : (n, h, w) uint8 glowing / hot-pixel labels.
    defects : (n, h, w) bool dilated defect mask.
    """
    _, _, labels, defects, excess, sigma = _prepare(images, params, defect_dilation_px)
    z = (excess / sigma).astype(np.float32)
    best = matched_filter(z, sigmas_px)
    best[defects] = 0.0
    return best, z, labels, defects


def matched_filter_labels(
    images: np.ndarray,
    params: SimulationParameters | None = None,
    sigmas_px: tuple[float, ...] = MATCHED_SIGMAS_PX,
    threshold: float = MATCHED_THRESHOLD,
    grow_sigma: float = MATCHED_GROW_SIGMA,
    defect_dilation_px: int = DEFECT_DILATION_PX,
) -> np.ndarray:
    """Matched-filter cluster finder: bank significance above `threshold`, grown to whole clusters.

    Parameters
    ----------
    images : (h, w) or (n, h, w) float32 ADU.
    params : simulation parameters for the glowing and hot-pixel bands.
    sigmas_px : diffusion sigmas (px) of the Gaussian kernel bank.
    threshold : detection threshold on the matched-filter significance (noise
        sigmas); `threshold_for_fake_rate` sets it for a stated fake rate.
    grow_sigma : detected peaks grow onto 8-connected pixels above this many
        noise sigmas of the raw frame.
    defect_dilation_px : dilation of the glowing and hot pixels before they are masked.

    Returns
    -------
    (h, w) or (n, h, w) uint8 class ids.
    """
    single = np.ndim(images) == 2
    significance, z, labels, defects = matched_filter_significance(images, params, sigmas_px, defect_dilation_px)
    clusters = matched_clusters(significance, z, defects, threshold, grow_sigma)
    return _finish(labels, clusters, single)


def threshold_for_fake_rate(
    blank_images: np.ndarray,
    target_fakes_per_frame: float = 0.1,
    params: SimulationParameters | None = None,
    sigmas_px: tuple[float, ...] = MATCHED_SIGMAS_PX,
    grow_sigma: float = MATCHED_GROW_SIGMA,
    candidates: np.ndarray | None = None,
) -> float:
    """Lowest matched-filter threshold giving at most `target_fakes_per_frame` on blank frames.

    Parameters
    ----------
    blank_images : (n, h, w) float32 ADU, pedestal and readout noise only.
    target_fakes_per_frame : the stated fake rate (predicted clusters per frame).
    candidates : thresholds to try (default 3.0 .. 8.0 in steps of 0.05).

    Returns
    -------
    float, the threshold. With n blank frames the rate is known to about
    sqrt(fakes) / n, so use enough frames for the target (>= 20 for 0.1).
    """
    if target_fakes_per_frame < 0:
        raise UserInputError(f"target fake rate must be >= 0, got {target_fakes_per_frame}")
    stack, _ = _as_stack(blank_images)
    candidates = np.arange(3.0, 8.0001, 0.05) if candidates is None else np.sort(np.asarray(candidates, float))
    significance, z, _, defects = matched_filter_significance(stack, params, sigmas_px)
    for threshold in candidates:
        clusters = matched_clusters(significance, z, defects, threshold, grow_sigma)
        if ndimage.label(clusters, structure=_frame_structure())[1] / stack.shape[0] <= target_fakes_per_frame:
            return float(threshold)
    return float(candidates[-1])


# %% Registry, scores and tuning
FINDERS: dict[str, Callable[..., np.ndarray]] = {
    "hysteresis": hysteresis_labels,
    "photutils": photutils_labels,
    "matched_filter": matched_filter_labels,
}

DEFAULT_GRIDS: dict[str, dict[str, tuple]] = {
    "hysteresis": {"seed_sigma": (4.0, 4.5, 5.0), "grow_sigma": (1.5, 2.0, 2.5, 3.0)},
    "photutils": {"fwhm_px": (1.0, 1.5, 2.5), "threshold_sigma": (1.5, 2.0, 2.5, 3.0)},
    "matched_filter": {"threshold": (4.5, 5.0, 5.5), "grow_sigma": (1.0, 1.5, 2.0, 2.5)},
}


def get_finder(name: str) -> Callable[..., np.ndarray]:
    """The finder function registered as `name` in `FINDERS`."""
    if name not in FINDERS:
        raise UserInputError(f"unknown finder {name!r}; use one of {', '.join(FINDERS)}")
    return FINDERS[name]


def tune_finder(
    name: str,
    images: np.ndarray,
    truth: np.ndarray,
    cluster_adu: np.ndarray,
    grid: dict[str, tuple] | None = None,
    params: SimulationParameters | None = None,
    f1_tolerance: float = F1_TOLERANCE,
    finder: Callable[..., np.ndarray] | None = None,
) -> tuple[dict, dict]:
    """Pick a finder's parameters on VALIDATION frames by the object-level cluster F1.

    Parameters
    ----------
    name : a key of `FINDERS`.
    images, cluster_adu : (n, h, w) float32 ADU, frames simulated with seeds
        distinct from any test frames; truth : (n, h, w) uint8 class ids.
    grid : parameter name -> values tried (all combinations); default
        `DEFAULT_GRIDS[name]`, a dozen points.
    params : simulation parameters passed to the finder.
    finder : the finder itself, when `name` is not one of `FINDERS` (e.g.
        `reference.reference_labels`, with its own grid).
    f1_tolerance : candidates within this of the best object F1 count as
        tied; ties go to fewer fakes, then to the higher pixel F1 (the grow
        levels hardly change which objects are found, only their pixels).

    Returns
    -------
    (best parameters, their `object_scores` plus `pixel_f1`).
    """
    finder = finder or get_finder(name)
    grid = DEFAULT_GRIDS[name] if grid is None else grid
    if not grid or any(len(values) == 0 for values in grid.values()):
        raise UserInputError("the tuning grid is empty")
    keys = list(grid)
    tried = []
    for values in itertools.product(*(grid[k] for k in keys)):
        candidate = dict(zip(keys, values))
        prediction = finder(images, params, **candidate)
        scores = object_scores(images, truth, cluster_adu, prediction)
        scores["pixel_f1"] = score_labels(prediction, truth)["cluster"]["f1"]
        tried.append((candidate, scores))
    best_f1 = max(scores["f1"] for _, scores in tried)
    tied = [item for item in tried if item[1]["f1"] >= best_f1 - f1_tolerance]
    return min(tied, key=lambda item: (item[1]["fake"], -item[1]["pixel_f1"], -item[1]["f1"]))
