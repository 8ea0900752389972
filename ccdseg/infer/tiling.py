"""Cutting a frame of any size into overlapping sections for the model, and putting them back.

Each section's prediction is kept only in its centre (a margin from its
edges), so objects cut by a section edge are judged with their surroundings
and there are no seams; memory holds one batch of sections at a time.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ccdseg.core.errors import UserInputError

# %% Defaults
# a 4096 x 4096 frame is 9 tiles of 1408 px (6 % of pixels computed twice; 1024 px: 25 tiles, 15 %);
# peak memory of load_model.py --fits on it: 2.1 GB with Keras float32
TILE_SIZE_PX = 1408
MARGIN_PX = 32


# %% Overlapping sections of a whole frame
@dataclass(frozen=True)
class TileLayout:
    """Where the overlapping sections of a frame lie, and which part of each is kept.

    Every section is `window` (rows, columns) px. Section number
    i * len(col_starts) + j starts at row `row_starts[i]`, column
    `col_starts[j]`, and its prediction is kept for the frame's rows
    `row_cuts[i]:row_cuts[i + 1]` and columns `col_cuts[j]:col_cuts[j + 1]`.
    So every pixel comes from exactly one section, at least the margin away
    from that section's edges, except at the frame's own edges. A section may
    reach past the frame's bottom or right edge by less than the model's
    multiple; `cut_section` fills those pixels by reflection.
    """

    frame_shape: tuple[int, int]
    window: tuple[int, int]
    row_starts: tuple[int, ...]
    col_starts: tuple[int, ...]
    row_cuts: tuple[int, ...]
    col_cuts: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.row_starts) * len(self.col_starts)

    def origin(self, index: int) -> tuple[int, int]:
        """(row, column) in the frame of section `index`'s top-left pixel."""
        i, j = divmod(index, len(self.col_starts))
        return self.row_starts[i], self.col_starts[j]

    def kept(self, index: int) -> tuple[slice, slice]:
        """Rows and columns of the frame whose prediction comes from section `index`."""
        i, j = divmod(index, len(self.col_starts))
        return slice(self.row_cuts[i], self.row_cuts[i + 1]), slice(self.col_cuts[j], self.col_cuts[j + 1])

    @property
    def model_pixels(self) -> int:
        """Pixels the model computes for the frame, overlaps included."""
        return len(self) * self.window[0] * self.window[1]


def _plan_axis(size: int, tile_px: int, margin_px: int, multiple: int) -> tuple[int, tuple, tuple]:
    """Window side, section starts and kept-part cuts along one axis of `size` px."""
    padded = -(-size // multiple) * multiple
    if padded <= tile_px:
        return padded, (0,), (0, size)
    count = math.ceil((padded - tile_px) / (tile_px - 2 * margin_px)) + 1
    while True:
        needed = math.ceil((padded + (count - 1) * 2 * margin_px) / count)
        for window in range(-(-needed // multiple) * multiple, tile_px + 1, multiple):
            steps = (padded - window) // multiple
            starts = [multiple * ((i * steps + (count - 1) // 2) // (count - 1)) for i in range(count)]
            if all(a + window - b >= 2 * margin_px for a, b in zip(starts, starts[1:])):
                cuts = [0] + [min((a + window + b) // 2, size) for a, b in zip(starts, starts[1:])] + [size]
                return window, tuple(starts), tuple(cuts)
        count += 1


def plan_sections(
    frame_shape: tuple[int, int], tile_px: int = TILE_SIZE_PX, margin_px: int = MARGIN_PX, multiple: int = 1
) -> TileLayout:
    """Plan overlapping sections that cover a whole frame of any size.

    Parameters
    ----------
    frame_shape : (h, w) px of the frame.
    tile_px : largest section side (px) given to the model; a multiple of `multiple`.
    margin_px : px along each section edge whose prediction is dropped (the
        model sees them only as context); neighbouring sections overlap by at
        least twice this, so objects cut by a section edge are seen whole by a
        neighbour.
    multiple : section sides and starts are multiples of this (the model's
        2**depth), so each section sees the same pooling grid as the whole
        frame would.

    Along each axis the fewest sections of at most `tile_px` are used, spread
    evenly and made as small as that count allows, so overlaps cost little.
    A frame smaller than a tile is one section, padded up to the multiple.
    """
    if len(frame_shape) != 2 or min(frame_shape) < 1:
        raise UserInputError(f"frame shape {tuple(frame_shape)} must be two positive sizes")
    if margin_px < 0 or tile_px % multiple or tile_px - 2 * margin_px < multiple:
        raise UserInputError(
            f"tile {tile_px} px with margin {margin_px} px: the tile must be a multiple of {multiple} px"
            f" and exceed twice the margin by at least {multiple} px"
        )
    height, width = (int(s) for s in frame_shape)
    window_h, row_starts, row_cuts = _plan_axis(height, tile_px, margin_px, multiple)
    window_w, col_starts, col_cuts = _plan_axis(width, tile_px, margin_px, multiple)
    return TileLayout((height, width), (window_h, window_w), row_starts, col_starts, row_cuts, col_cuts)


def cut_section(frame: np.ndarray, layout: TileLayout, index: int) -> np.ndarray:
    """Section `index` (th, tw, ...) of a frame (h, w, ...), reflected where it reaches past the frame."""
    top, left = layout.origin(index)
    height, width = layout.window
    section = frame[top : top + height, left : left + width]
    short_h, short_w = height - section.shape[0], width - section.shape[1]
    if short_h or short_w:
        section = np.pad(section, ((0, short_h), (0, short_w)) + ((0, 0),) * (frame.ndim - 2), mode="reflect")
    return section


def frame_to_sections(frame: np.ndarray, layout: TileLayout) -> np.ndarray:
    """All sections (n, th, tw, ...) of a frame (h, w, ...); `images_small2big` puts them back."""
    frame = np.asarray(frame)
    if frame.shape[:2] != layout.frame_shape:
        raise UserInputError(f"frame shape {frame.shape} differs from the layout's {layout.frame_shape}")
    return np.stack([cut_section(frame, layout, i) for i in range(len(layout))])


def iter_section_batches(
    frame: np.ndarray, layout: TileLayout, batch_size: int
) -> Iterator[tuple[range, np.ndarray]]:
    """Yield (section numbers, sections (b, th, tw, ...)) in batches, to stream a frame (h, w, ...) through a model."""
    for start in range(0, len(layout), batch_size):
        numbers = range(start, min(start + batch_size, len(layout)))
        yield numbers, np.stack([cut_section(frame, layout, i) for i in numbers])


def paste_section(full: np.ndarray, section: np.ndarray, layout: TileLayout, index: int) -> None:
    """Copy the kept part of section `index` (th, tw, ...) into the full map (h, w, ...)."""
    rows, cols = layout.kept(index)
    top, left = layout.origin(index)
    full[rows, cols] = section[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]


def images_small2big(sections: np.ndarray, layout: TileLayout) -> np.ndarray:
    """Reconstruct the full map (h, w, ...) from sections (n, th, tw, ...) of `layout`.

    Each pixel is taken from the centre of the one section that keeps it, so
    there are no seams; works for class ids, probabilities or images alike.
    """
    sections = np.asarray(sections)
    if sections.shape[:3] != (len(layout), *layout.window):
        raise UserInputError(
            f"sections of shape {sections.shape[:3]} do not fit the layout's {(len(layout), *layout.window)}"
        )
    full = np.empty(layout.frame_shape + sections.shape[3:], dtype=sections.dtype)
    for index, section in enumerate(sections):
        paste_section(full, section, layout, index)
    return full
