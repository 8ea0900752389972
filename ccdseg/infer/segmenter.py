"""A trained model ready to segment CCD frames: the model, its card and its runtime in one object.

In the style of deepCR:

    seg = Segmenter.load("Models/default.keras")   # model + card (normalisation, depth, scores)
    classes = seg.segment(frame)                   # (h, w) ADU, any size -> (h, w) uint8
    probabilities = seg.predict(stack)             # (n, h, w) ADU -> (n, h, w, 4)

Frames are normalised as a whole, as the model was trained (the card's
normalisation, `model.normalisation.normalise_frames`). Big frames (a 4k x 4k
detector image) are then cut into overlapping tiles (`infer.tiling`) that stream
through the model a batch at a time; each tile's prediction is kept only in
its centre, so there are no seams and memory stays bounded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ccdseg.core import paths
from ccdseg.core.classes import BACKGROUND
from ccdseg.core.concurrency import one_ahead
from ccdseg.core.errors import UserInputError
from ccdseg.infer import tiling
from ccdseg.infer.decision import (
    apply_frame_defects,
    decide_classes,
    drop_dark_current_clusters,
    drop_background_clusters,
    edge_candidates,
    grow_cluster_edges,
    needs_calibration,
    refine_classes,
)
from ccdseg.infer.runtime import (
    PRECISIONS,
    RUNTIMES,
    compile_openvino,
    mixed_precision_copy,
    native_bfloat16,
    openvino_installed,
)
from ccdseg.infer.tiling import iter_section_batches, paste_section, plan_sections
from ccdseg.model.card import read_card
from ccdseg.measure.defects import dark_current_rows, defect_labels, glow_map
from ccdseg.model.normalisation import NORMALISATION, input_channels, normalise_frames, stretch, unstretch
from ccdseg.model.predict import pooling_depth, predict_normalised

# %% Defaults (read when a frame is segmented; tile sizes are `tiling`'s, whole-frame batches `model.predict`'s)
TILE_BATCH_TILES = 1  # tiles of a big frame per model call


# %% The segmenter
@dataclass(frozen=True)
class PreparedFrame:
    """A frame (h, w) float32 ADU, its network input (h, w, c) and its background (None: not measured row by row)."""

    frame: np.ndarray
    normalised: np.ndarray
    background: object = None


def _stack(frames: np.ndarray) -> np.ndarray:
    """A frame (h, w) or a stack (n, h, w) as a float32 stack, any size of at least one pixel."""
    frames = np.asarray(frames, dtype=np.float32)
    frames = frames[None] if frames.ndim == 2 else frames
    if frames.ndim != 3 or min(frames.shape[1:]) < 1:
        raise UserInputError(f"expected a frame (h, w) or a stack (n, h, w), got shape {frames.shape}")
    return frames


@dataclass
class Segmenter:
    """A trained U-Net with its card: normalises, predicts and segments frames of any size.

    model : the Keras model (input: normalised frames (n, h, w, 1)).
    card : the model card (normalisation, depth, training data, scores).
    path : where the model was loaded from.
    """

    model: object
    card: dict = field(default_factory=dict)
    path: Path = Path("unsaved")
    compiled: object = field(default=None, repr=False)  # the OpenVINO model, when that runtime is used

    @classmethod
    def load(cls, path: str | Path | None = None) -> Segmenter:
        """Load a saved .keras U-Net (None: the shipped default model) and its card beside it.

        Raises `UserInputError` when the file is missing or is not a Keras model.
        """
        import keras

        import ccdseg.model.loss  # noqa: F401  (registers the custom loss for loading)

        path = Path(path) if path is not None else paths.DEFAULT_MODEL
        if not path.is_file():
            raise UserInputError(f"{path}: no such model file")
        try:
            model = keras.saving.load_model(path, compile=False)
        except Exception as exc:
            raise UserInputError(f"{path}: not a loadable Keras model ({type(exc).__name__})") from None
        card = read_card(path)
        card.setdefault("normalisation", NORMALISATION)
        card.setdefault("depth", pooling_depth(model))
        return cls(model, card, path)

    @property
    def multiple(self) -> int:
        """Frame sides the model accepts are multiples of this (2**depth)."""
        return 2 ** int(self.card.get("depth", pooling_depth(self.model)))

    @property
    def decision(self) -> dict:
        """How probabilities become classes (the card's 'decision'; empty: the most likely class)."""
        return self.card.get("decision", {})

    def decide(self, probabilities: np.ndarray, normalised: np.ndarray, frames: np.ndarray | None = None,
               backgrounds: list | None = None) -> np.ndarray:
        """Class ids (..., h, w) uint8 of whole frames from their probabilities (..., h, w, N_CLASSES).

        normalised : the frames' network input (..., h, w, c); the matched
        rule of the card's decision reads its matched-filter channel.
        frames, backgrounds : the frames in ADU and their backgrounds (from
        `normalise`), for the rules that need the frame's own calibration.
        """
        ids, fallback = decide_classes(probabilities, self.decision)
        return self._refine(ids, fallback, normalised, frames, backgrounds, edge_candidates(probabilities, self.decision))

    def _refine(self, ids: np.ndarray, fallback: np.ndarray, normalised: np.ndarray, frames: np.ndarray | None = None,
                backgrounds: list | None = None, candidates: np.ndarray | None = None) -> np.ndarray:
        """The card's frame rules (`decision.refine_classes`, then the calibration's rules) on whole frames.

        candidates : (..., h, w) bool, the pixels clusters may grow onto (`decision.edge_candidates`).
        """
        if not self.decision:
            return ids
        normalisation = self.card.get("normalisation") or NORMALISATION
        if input_channels(normalisation) == 1:
            refine_classes(ids, fallback, self.decision, None, None)
        else:
            refine_classes(ids, fallback, self.decision, normalised[..., 1], normalised[..., 0],
                           lambda sigmas: stretch(sigmas, normalisation))
        if needs_calibration(self.decision):
            self._calibration_rules(ids, normalised, frames, backgrounds, candidates)
        return ids

    def _calibration_rules(self, ids: np.ndarray, normalised: np.ndarray, frames: np.ndarray | None,
                           backgrounds: list | None, candidates: np.ndarray | None = None) -> None:
        """The card's rules that need the frame's calibration, frame by frame, in place (`decision.needs_calibration`).

        `frame_defects` replaces the network's glowing and hot pixels by the
        calibration's (`decision.apply_frame_defects`; frames measured as CCD
        frames keep the network's); `decision.drop_background_clusters` makes
        level lines hot (`hot_line_max_spread`) and drops the clusters the
        background or the glow alone could make, and
        `dark_current_false_alarm` those the Poisson dark current makes more
        often than that (`decision.drop_dark_current_clusters`, skipper frames);
        `edge_likelihood_ratio` then grows the clusters onto their edge pixels
        that hold one of their electrons and that the network finds plausible
        (`edge_probability`) or that are bright (`edge_bright_electrons`,
        `edge_bright_ratio`; `decision.grow_cluster_edges`, skipper frames).
        """
        normalisation = self.card.get("normalisation") or NORMALISATION
        shape = ids.shape[-2:]
        stack, inputs = ids.reshape(-1, *shape), normalised.reshape(-1, *shape, normalised.shape[-1])
        frames = None if frames is None else np.asarray(frames).reshape(-1, *shape)
        candidates = None if candidates is None else candidates.reshape(-1, *shape)
        for index, (frame_ids, frame_input) in enumerate(zip(stack, inputs)):
            z = unstretch(frame_input[..., 0], normalisation)
            fit = getattr(backgrounds[index] if backgrounds else None, "fit", None)
            if self.decision.get("frame_defects") and frames is not None and fit is not None:
                apply_frame_defects(frame_ids, defect_labels(fit, frames[index]), z,
                                    float(self.decision.get("frame_defects_cluster_sigma", 5.0)))
            drop_background_clusters(frame_ids, z, self.decision)
            if frames is None or fit is None:
                continue
            electrons = (frames[index] - fit.pedestal_adu_per_row[:, None]) / fit.fit.gain_adu
            expected = dark_current_rows(fit)[:, None] + glow_map(fit)
            if self.decision.get("dark_current_false_alarm"):
                drop_dark_current_clusters(frame_ids, electrons, expected, float(self.decision["dark_current_false_alarm"]))
            if self.decision.get("edge_likelihood_ratio"):
                bright = self.decision.get("edge_bright_electrons")
                grow_cluster_edges(frame_ids, electrons, expected, float(self.decision["edge_likelihood_ratio"]),
                                   None if candidates is None else candidates[index],
                                   None if bright is None else (float(bright), float(self.decision["edge_bright_ratio"])))

    @property
    def precision(self) -> str:
        """The model's arithmetic: 'float32' or 'bfloat16'."""
        return self.card.get("precision", "float32")

    def with_precision(self, precision: str = "float32") -> Segmenter:
        """This segmenter computing in `precision`: 'float32' (itself), 'bfloat16' (a copy) or 'auto'.

        'bfloat16' computes in bfloat16 on float32 weights (Keras
        'mixed_bfloat16'; the final softmax stays float32). On CPUs with
        AVX512-BF16 it runs nearly twice as fast; its class maps differ from
        float32's on a few pixels in 100,000 (benchmark), so check it on your
        frames. 'auto' is 'bfloat16' when OpenVINO runs the network on a CPU
        that computes bfloat16 natively (`native_bfloat16`), else 'float32':
        call it after `with_runtime`.
        """
        if precision not in PRECISIONS:
            raise UserInputError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        if precision == "auto":
            precision = "bfloat16" if self.compiled is not None and native_bfloat16() else "float32"
        if precision == self.precision:
            return self
        if self.compiled is not None:
            return Segmenter(self.model, dict(self.card, precision=precision), self.path).with_runtime("openvino")
        return Segmenter(mixed_precision_copy(self.model), dict(self.card, precision=precision), self.path)

    @property
    def runtime(self) -> str:
        """What runs the network: 'openvino' or 'keras'."""
        return "keras" if self.compiled is None else "openvino"

    def with_runtime(self, runtime: str = "auto") -> Segmenter:
        """This segmenter run by `runtime`: 'keras', 'openvino', or 'auto' (OpenVINO where installed).

        OpenVINO compiles the same Keras model for the CPU, once (a second or
        two). In float32 it gives Keras's class maps; with the bfloat16
        precision it computes in bfloat16 where the CPU can (AVX512-BF16),
        nearly twice as fast. Keras stays the reference and the fallback.
        """
        if runtime not in RUNTIMES:
            raise UserInputError(f"runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
        if runtime == "auto":
            runtime = "openvino" if openvino_installed() else "keras"
        if runtime == "keras":
            return self if self.compiled is None else Segmenter(self.model, self.card, self.path)
        if not openvino_installed():
            raise UserInputError("runtime 'openvino' asked for, but OpenVINO is not installed")
        compiled = compile_openvino(self.model, input_channels(self.card.get("normalisation")), self.precision)
        return Segmenter(self.model, self.card, self.path, compiled)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (b, h, w, N_CLASSES) of a batch of normalised tiles (b, h, w, c), by the runtime."""
        if self.compiled is not None:
            return np.asarray(self.compiled(np.ascontiguousarray(batch, dtype=np.float32))[0])
        return np.asarray(self.model.predict_on_batch(batch))

    def normalise(self, frames: np.ndarray, backgrounds: list | None = None) -> np.ndarray:
        """Frames (h, w) or (n, h, w) ADU normalised as the model was trained: (..., h, w, channels).

        backgrounds : a list receiving each frame's background (`row-asinh` normalisations).
        """
        return normalise_frames(frames, self.card.get("normalisation"), backgrounds=backgrounds)

    def predict(self, frames: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities (n, h, w, N_CLASSES) float32 of frames (n, h, w) or (h, w) in ADU.

        batch_size : frames per model call (None: `model.predict.PREDICT_BATCH_FRAMES`).
        """
        return predict_normalised(self.model, self.normalise(_stack(frames)), self.multiple, batch_size, self.infer)

    def classes_of_normalised(self, normalised: np.ndarray, batch_size: int | None = None,
                              frames: np.ndarray | None = None, backgrounds: list | None = None) -> np.ndarray:
        """Class ids (n, h, w) uint8 of whole normalised frames (n, h, w, c): prediction, then the card's decision.

        frames, backgrounds : the frames in ADU and their backgrounds, for the
        card's rules that need the frame's own calibration (see `decide`).
        """
        probabilities = predict_normalised(self.model, normalised, self.multiple, batch_size, self.infer)
        return self.decide(probabilities, normalised, frames, backgrounds)

    def classes(self, frames: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Class ids (uint8) of a frame (h, w) or a stack (n, h, w) of ADU values, any size.

        Frames with a side above `tiling.TILE_SIZE_PX` go through `segment`
        one by one (overlapping tiles, bounded memory); smaller ones are
        predicted whole, `batch_size` frames at a time (None:
        `model.predict.PREDICT_BATCH_FRAMES`). Each frame is normalised as a
        whole; NaN and inf pixels are class 0 (background).
        """
        ndim = np.ndim(frames)
        frames = _stack(frames)
        if max(frames.shape[1:]) > tiling.TILE_SIZE_PX:
            classes = np.stack([self.segment(frame) for frame in frames])
        else:
            backgrounds: list = []
            classes = self.classes_of_normalised(self.normalise(frames, backgrounds), batch_size, frames, backgrounds)
            classes[~np.isfinite(frames)] = BACKGROUND
        return classes[0] if ndim == 2 else classes

    def segment_normalised(
        self,
        normalised: np.ndarray,
        tile_px: int | None = None,
        margin_px: int | None = None,
        batch_size: int | None = None,
        progress: bool = False,
        frame: np.ndarray | None = None,
        background: object = None,
    ) -> np.ndarray:
        """Class ids (h, w) uint8 of one normalised frame (h, w, c) of any size, in overlapping tiles.

        Tiles of at most `tile_px` (`tiling.plan_sections`) stream through
        the model `batch_size` at a time; each tile's classes are kept only in
        its centre, `margin_px` or more from its edges. The network runs a
        batch while the previous one is decided and the next one cut; memory
        holds the frame, its class map and three batches of tiles. None takes
        the default as it is when called: `tiling.TILE_SIZE_PX`,
        `tiling.MARGIN_PX`, `TILE_BATCH_TILES`. frame (h, w) ADU and its
        background serve the card's rules that need the frame's calibration.
        """
        tile_px = tiling.TILE_SIZE_PX if tile_px is None else tile_px
        margin_px = tiling.MARGIN_PX if margin_px is None else margin_px
        batch_size = TILE_BATCH_TILES if batch_size is None else batch_size
        normalised = np.asarray(normalised, dtype=np.float32)
        if normalised.ndim != 3:
            raise UserInputError(f"expected one normalised frame (h, w, c), got shape {normalised.shape}")
        if batch_size < 1:
            raise UserInputError(f"batch size must be at least 1, not {batch_size}")
        layout = plan_sections(normalised.shape[:2], tile_px, margin_px, self.multiple)
        classes = np.empty(normalised.shape[:2], dtype=np.uint8)
        fallback = np.empty(normalised.shape[:2], dtype=np.uint8)
        candidates = None if self.decision.get("edge_probability") is None else np.empty(classes.shape, dtype=bool)

        def keep(numbers: range, probabilities: np.ndarray) -> None:
            tile_classes, tile_fallback = decide_classes(probabilities, self.decision)
            tile_candidates = edge_candidates(probabilities, self.decision)
            for position, (tile, tile_back, index) in enumerate(zip(tile_classes, tile_fallback, numbers)):
                paste_section(classes, tile, layout, index)
                paste_section(fallback, tile_back, layout, index)
                if candidates is not None:
                    paste_section(candidates, tile_candidates[position], layout, index)

        total = -(-len(layout) // batch_size)
        bar = dict(total=total, desc="tiles", unit="batch", leave=False, disable=not progress or total < 2)
        # the network runs a batch in a thread while this one decides the previous batch and cuts the next:
        # the network leaves part of the CPU idle, and this work fills it (about 0.1 s of 4.4 s on a 4k x 4k frame)
        batches = tqdm(iter_section_batches(normalised, layout, batch_size), **bar)
        for (numbers, _), probabilities in one_ahead(batches, lambda numbered: self.infer(numbered[1])):
            keep(numbers, probabilities)
        return self._refine(classes, fallback, normalised, None if frame is None else frame[None],
                            None if background is None else [background], candidates)

    def prepare(self, frame: np.ndarray) -> PreparedFrame:
        """One frame (h, w) in ADU checked and normalised as a whole, ready for `segment_prepared`.

        NaN and inf pixels are left out of the statistics. A frame whose
        pixels are all NaN or inf raises `UserInputError`. This is the
        frame's calibration (on skipper frames a second or two for a whole
        amplifier), which a run of many frames does while the network works
        on the previous frame.
        """
        frame = np.asarray(frame, dtype=np.float32)
        if frame.ndim != 2 or min(frame.shape) < 1:
            raise UserInputError(f"expected one frame (h, w), got shape {frame.shape}")
        masked = ~np.isfinite(frame)
        if masked.all():
            raise UserInputError(f"all {frame.size} pixels of the frame are NaN or infinite")
        measured: list = []
        normalised = self.normalise(frame, measured)
        return PreparedFrame(frame, normalised, measured[0] if measured else None)

    def segment_prepared(
        self,
        prepared: PreparedFrame,
        tile_px: int | None = None,
        margin_px: int | None = None,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Class ids (h, w) uint8 of a frame from `prepare`, in overlapping tiles (`segment_normalised`).

        NaN and inf pixels are class 0 (background).
        """
        classes = self.segment_normalised(prepared.normalised, tile_px, margin_px, batch_size, progress,
                                          prepared.frame, prepared.background)
        classes[~np.isfinite(prepared.frame)] = BACKGROUND
        return classes

    def segment(
        self,
        frame: np.ndarray,
        tile_px: int | None = None,
        margin_px: int | None = None,
        batch_size: int | None = None,
        progress: bool = False,
        backgrounds: list | None = None,
    ) -> np.ndarray:
        """Class ids (h, w) uint8 of one frame (h, w) in ADU, of any size.

        `prepare` (normalised as a whole), then `segment_prepared` (overlapping
        tiles; `segment_normalised` says what None means for `tile_px`,
        `margin_px` and `batch_size`). backgrounds : a list that receives the
        frame's `measure.background.Background` when its normalisation
        measured one (`row-asinh`), so that the catalogue need not measure it again.
        """
        prepared = self.prepare(frame)
        classes = self.segment_prepared(prepared, tile_px, margin_px, batch_size, progress)
        if backgrounds is not None and prepared.background is not None:
            backgrounds.append(prepared.background)
        return classes
