"""Training batches of crops: fewer pixels per step where nothing happens, so a CPU trains in minutes.

A step of the original recipe spends most of its arithmetic on background:
about 90 % of a simulated frame's pixels are pedestal and noise. Here each
step is a batch of square crops of the (already normalised) frames, a share
of them centred on a pixel of an object (glowing, hot pixel or cluster),
the rest anywhere, as detection trainings do; every crop is turned and
flipped at random (`symmetries`: the 8 of a square, or for skipper frames,
whose columns and rows differ (the first column, the serial trail after a
cluster, streaks along rows), only a flip of the rows). The network is fully
convolutional, so it is trained on crops and run on frames of any size.

The first `small_epochs` epochs cut small crops (`small_px`), as many as
hold half the pixels of a full step (half the network's arithmetic): early
on the network learns what objects look like, which small crops show as
well, and the later epochs on large crops (whole frames, in train.py's default) teach
it the context (glowing columns along a frame's edge, long tracks).
`dataset` streams the batches of a whole fit, epoch after epoch, even
where the crops change size.
"""
from __future__ import annotations

import keras
import numpy as np

from ccdseg.core.classes import BACKGROUND, N_CLASSES
from ccdseg.core.errors import UserInputError

# %% Defaults
CROP_PX = 128
SMALL_SHARE = 0.5  # a step of small crops holds this share of a full step's pixels
OBJECT_SHARE = 0.5
SYMMETRIES = ("square", "rows")


# %% Batches
def small_batch(batch_size: int, crop_px: int, small_px: int) -> int:
    """Crops of `small_px` a step of small crops holds: `SMALL_SHARE` of the pixels of `batch_size` crops of `crop_px`."""
    return max(1, round(SMALL_SHARE * batch_size * crop_px**2 / small_px**2))


def epoch_crops(epoch: int, batch_size: int, crop_px: int, small_epochs: int, small_px: int) -> tuple[int, int]:
    """(crop side px, crops a batch) of an epoch: `small_batch` crops of `small_px` in the first `small_epochs`."""
    if epoch < small_epochs:
        return small_px, small_batch(batch_size, crop_px, small_px)
    return crop_px, batch_size


class CropBatches(keras.utils.PyDataset):
    """`steps` batches an epoch of `batch_size` crops (crop_px x crop_px) of normalised frames and their targets.

    x : (n, h, w, c) float32 normalised frames; y : (n, h, w) uint8 class ids;
    pixel_weights : (n, h, w) float32 loss weights, or None. Batch i of
    epoch e is drawn from its own generator seeded by (seed, e, i), so a run
    is reproducible and a resumed run (`dataset` from its next epoch) draws
    what it would have drawn. small_epochs : the first epochs, whose
    batches are `small_batch` crops of `small_px` (None: half the side).
    Yields (x (b, s, s, c), one-hot targets (b, s, s, N_CLASSES)[, weights (b, s, s)]).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, steps: int, seed: int,
                 pixel_weights: np.ndarray | None = None, crop_px: int = CROP_PX, object_share: float = OBJECT_SHARE,
                 symmetries: str = "square", small_epochs: int = 0, small_px: int | None = None):
        super().__init__()
        if min(x.shape[1:3]) < crop_px:
            raise UserInputError(f"crops of {crop_px} px do not fit frames of {x.shape[1]} x {x.shape[2]} px")
        small_px = crop_px // 2 if small_px is None else int(small_px)
        if small_epochs < 0 or not 0 < small_px <= crop_px:
            raise UserInputError(f"{small_epochs} epochs of small crops of {small_px} px: the count must be at least 0"
                                 f" and the side 1 to {crop_px} px")
        if symmetries not in SYMMETRIES:
            raise UserInputError(f"symmetries must be one of {', '.join(SYMMETRIES)}, not {symmetries!r}")
        if not 0.0 <= object_share <= 1.0:
            raise UserInputError(f"the share of crops centred on objects must be 0..1, not {object_share}")
        self.x, self.y, self.weights = x, y, pixel_weights
        self.batch_size, self.steps, self.seed = int(batch_size), int(steps), int(seed)
        self.crop_px, self.object_share = int(crop_px), float(object_share)
        self.symmetries, self.small_epochs, self.small_px = symmetries, int(small_epochs), small_px
        flat = y.reshape(len(y), -1)
        self.objects = [np.flatnonzero(frame != BACKGROUND) for frame in flat]

    def __len__(self) -> int:
        return self.steps

    def corners(self, rng: np.random.Generator, size: int, count: int) -> list[tuple[int, int, int]]:
        """(frame, top row, left column) of each of `count` crops of `size` px."""
        n, height, width = self.y.shape
        out = []
        for _ in range(count):
            frame = int(rng.integers(n))
            objects = self.objects[frame]
            if objects.size and rng.uniform() < self.object_share:
                row, col = divmod(int(objects[rng.integers(objects.size)]), width)
                row += int(rng.integers(-size // 4, size // 4 + 1))
                col += int(rng.integers(-size // 4, size // 4 + 1))
                top, left = row - size // 2, col - size // 2
            else:
                top, left = int(rng.integers(height - size + 1)), int(rng.integers(width - size + 1))
            out.append((frame, int(np.clip(top, 0, height - size)), int(np.clip(left, 0, width - size))))
        return out

    def crop_shape(self, epoch: int) -> tuple[int, int]:
        """(crop side px, crops a batch) of an epoch: small crops in the first `small_epochs` (`epoch_crops`)."""
        return epoch_crops(epoch, self.batch_size, self.crop_px, self.small_epochs, self.small_px)

    def batch(self, epoch: int, index: int):
        """Batch `index` of epoch `epoch` (the same whenever it is drawn)."""
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        size, count = self.crop_shape(epoch)
        parts = [self.x, self.y] + ([self.weights] if self.weights is not None else [])
        batch = [[] for _ in parts]
        for frame, top, left in self.corners(rng, size, count):
            turns, flip = int(rng.integers(4)), bool(rng.integers(2))
            for out, array in zip(batch, parts):
                crop = array[frame, top : top + size, left : left + size]
                if self.symmetries == "square":
                    crop = np.rot90(crop, turns)[:, ::-1] if flip else np.rot90(crop, turns)
                elif flip:
                    crop = crop[::-1]
                out.append(crop)
        x, y = np.stack(batch[0]), np.eye(N_CLASSES, dtype=np.float32)[np.stack(batch[1])]
        return (x, y, np.stack(batch[2])) if self.weights is not None else (x, y)

    def __getitem__(self, index: int):
        """Batch `index` of the first epoch (a fit streams every epoch through `dataset`)."""
        return self.batch(0, index)

    def dataset(self, epochs: int, first_epoch: int = 0):
        """The batches of epochs `first_epoch` .. `epochs` - 1 in order, as one `tf.data.Dataset`.

        Give `model.fit` `steps_per_epoch=len(self)`. The crop side may
        change from one epoch to the next (`small_epochs`), which a
        `PyDataset` cannot do: Keras fixes a batch's shape from the first
        ones. Step k of the fit is batch k % steps of epoch k // steps,
        drawn when the pipeline asks for it. tf.data's autotuning is off:
        its model thread made the fit's end wait up to half a minute, now
        and then, for TensorFlow to close the pipeline; a fixed prefetch of
        two batches keeps the network fed.
        """
        import tensorflow as tf

        channels = self.x.shape[-1]
        shapes = [(None, None, None, channels), (None, None, None, N_CLASSES)]
        shapes += [(None, None, None)] if self.weights is not None else []

        def draw(step: np.ndarray) -> tuple:
            epoch, index = divmod(int(step), self.steps)
            return tuple(np.asarray(part, np.float32) for part in self.batch(epoch, index))

        @tf.autograph.experimental.do_not_convert  # plain graph code: AutoGraph only warned it could not convert it
        def fetch(step):
            parts = tf.numpy_function(draw, [step], [tf.float32] * len(shapes), stateful=False)
            for part, shape in zip(parts, shapes):
                part.set_shape(shape)
            return tuple(parts)

        options = tf.data.Options()
        options.autotune.enabled = False
        steps = tf.data.Dataset.range(first_epoch * self.steps, epochs * self.steps)
        return steps.map(fetch).prefetch(2).with_options(options)
