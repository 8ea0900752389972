"""Geometric augmentation of CCD frames and their label maps together (optional in training).

Every frame gets its own random mix of

* a flip or a rotation by a multiple of 90 degrees (all 8 symmetries of a
  square frame; only the flips on a frame that is not square, so that its
  shape stays the same),
* a shift by a whole number of pixels (at most `max_shift_px` each way),
* optionally, a small zoom (factor 1 +- `zoom`, off by default).

Image and label map go through the same transform (albumentations), both
with nearest-neighbour sampling: no pixel value is ever blended with its
neighbours, so the image stays in physical ADU and the labels keep the class
ids 0..3. Flips, 90-degree rotations and whole-pixel shifts only move pixels,
so a hot-pixel segment stays a single row or column. A zoom repeats or drops
whole rows and columns: segments stay straight, but may become two pixels
thick or vanish, and clusters change their size, which a real CCD's fixed
pixel pitch never does; this is why zoom is off by default.

Pixels that a shift or zoom brings in from outside the frame are filled by
reflection at the edge (`border='reflect'`, the edge pixel itself not
repeated, and the labels reflect the same way), or with the frame's median,
its pedestal (`border='pedestal'`), labelled background.

The original's imgaug sequence also had pixel dropout and colour inversion;
they are left out: an inverted frame has negative charge, and a pixel set to
zero ADU lies thousands of ADU below the pedestal, which no CCD shows.

`augmentation.py` draws an example (frames and labels, before and after).
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from ccdseg.core.checks import check_truth
from ccdseg.core.errors import UserInputError

# %% Defaults
MAX_SHIFT_PX = 16
ZOOM = 0.0
BORDER = "reflect"
BORDERS = ("reflect", "pedestal")


# %% Functions
def make_augmenter(
    seed: int,
    max_shift_px: int = MAX_SHIFT_PX,
    zoom: float = ZOOM,
    border: str = BORDER,
    square: bool = True,
):
    """Build the albumentations pipeline for one image and its masks.

    Parameters
    ----------
    seed : seeds the pipeline's own random generator; two pipelines with the
        same seed and options give the same sequence of transforms.
    max_shift_px : largest shift, whole pixels, in each direction (0: none).
    zoom : zoom factors are drawn from [1 - zoom, 1 + zoom] (0: no zoom).
    border : 'reflect' or 'pedestal' (constant fill, see `augment`).
    square : frames are square, so rotations by 90 and 270 degrees keep the
        shape; otherwise only flips are used.

    Returns
    -------
    albumentations.Compose, called as `pipeline(image=..., masks=[...])`.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as A

    if border not in BORDERS:
        raise UserInputError(f"border {border!r} is not one of {', '.join(BORDERS)}")
    if max_shift_px < 0:
        raise UserInputError(f"the largest shift must be 0 or more pixels, not {max_shift_px}")
    if not 0.0 <= zoom < 0.5:
        raise UserInputError(f"zoom must be in [0, 0.5), not {zoom}")
    if square:
        transforms = [A.SquareSymmetry(p=1.0)]
    else:
        transforms = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
    if max_shift_px or zoom:
        transforms.append(
            A.Affine(
                scale=(1.0 - zoom, 1.0 + zoom),
                keep_ratio=True,
                translate_px={"x": (-max_shift_px, max_shift_px), "y": (-max_shift_px, max_shift_px)},
                rotate=0.0,
                shear=0.0,
                interpolation=cv2.INTER_NEAREST,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_REFLECT_101 if border == "reflect" else cv2.BORDER_CONSTANT,
                fill=0.0,
                fill_mask=0,
                p=1.0,
            )
        )
    return A.Compose(transforms, seed=int(seed))


def check_dataset(images: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a data set: images (n, h, w) ADU and truth (n, h, w) class ids 0..3.

    Returns images as float32 and truth as uint8; raises `UserInputError`
    on a wrong shape or a class id outside 0..3.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise UserInputError(f"expected images (n, h, w), got shape {images.shape}")
    return images.astype(np.float32, copy=False), check_truth(truth, images.shape)


def augment(
    images: np.ndarray,
    truth: np.ndarray,
    seed: int,
    max_shift_px: int = MAX_SHIFT_PX,
    zoom: float = ZOOM,
    border: str = BORDER,
) -> tuple[np.ndarray, np.ndarray]:
    """Transform each frame and its truth map together, each frame its own way.

    Parameters
    ----------
    images : (n, h, w) ADU.
    truth : (n, h, w) class ids 0..3.
    seed : the same seed and options give the same output.
    max_shift_px, zoom, border : see `make_augmenter`. With 'pedestal',
        pixels brought in from outside take the frame's median ADU and the
        class background.

    Returns
    -------
    images (n, h, w) float32 ADU and truth (n, h, w) uint8 class ids, new
    arrays; the inputs are not changed.
    """
    images, truth = check_dataset(images, truth)
    n, height, width = images.shape
    pipeline = make_augmenter(seed, max_shift_px, zoom, border, square=height == width)
    pedestal_adu = np.median(images, axis=(1, 2)) if n else np.empty(0, dtype=np.float32)
    inside = np.ones((height, width), dtype=np.uint8)
    out_images = np.empty_like(images)
    out_truth = np.empty_like(truth)
    for i in range(n):
        result = pipeline(image=images[i], masks=[truth[i], inside])
        out_images[i] = result["image"]
        out_truth[i], moved_inside = result["masks"]
        if border == "pedestal":
            out_images[i][moved_inside == 0] = pedestal_adu[i]
    return out_images, out_truth


def add_augmented_copies(
    images: np.ndarray, truth: np.ndarray, copies: int, seed: int, **options
) -> tuple[np.ndarray, np.ndarray]:
    """The data set followed by `copies` augmented versions of it, (n * (1 + copies), h, w).

    Copy k uses seed `seed + k`; `options` go to `augment`.
    """
    if copies < 0:
        raise UserInputError(f"the number of augmented copies must be 0 or more, not {copies}")
    images, truth = check_dataset(images, truth)
    all_images, all_truth = [images], [truth]
    for k in range(copies):
        new_images, new_truth = augment(images, truth, seed + k, **options)
        all_images.append(new_images)
        all_truth.append(new_truth)
    return np.concatenate(all_images), np.concatenate(all_truth)
