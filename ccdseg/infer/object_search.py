"""Find and draw the sections of a frame that hold a chosen class (`load_model.py --find`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ccdseg.core.classes import CLASS_NAMES, class_id
from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import refuse_existing
from ccdseg.plots.labels import fill_masked, visualize_label

# %% Defaults
SECTION_SIZE_PX = 256


# %% Functions
def check_one_object(
    image: np.ndarray,
    class_map: np.ndarray,
    which: str | int,
    section_px: int = SECTION_SIZE_PX,
    output: str | Path | None = None,
    stem: str = "frame",
    max_figures: int = 10,
    show: bool = True,
    force: bool = False,
) -> list[dict]:
    """List and draw the sections of a frame that contain class `which`.

    Parameters
    ----------
    image : (h, w) ADU; NaN pixels are drawn at the median.
    class_map : (h, w) uint8 class ids of the whole frame.
    which : a class name or id ('cluster', 3).
    section_px : side of the sections searched; the last row and column of
        sections keep the remainder, so the whole frame is searched.
    output : folder for the figures `STEM_CLASS_rROW_cCOL.png` (None: not saved).
    max_figures : draw at most this many sections, in frame order.

    Returns
    -------
    One dict per section holding the class, in frame order: 'rows' and
    'columns' (start, stop) in the full frame (0-based, stop excluded) and
    'pixels', the number of pixels of the class in it.
    """
    cid = class_id(which)
    class_map = np.asarray(class_map)
    if class_map.ndim != 2 or np.shape(image) != class_map.shape:
        raise UserInputError(f"image {np.shape(image)} and class map {class_map.shape} must be one (h, w) shape")
    height, width = class_map.shape
    row_edges, col_edges = np.arange(0, height, section_px), np.arange(0, width, section_px)
    hits = np.add.reduceat(np.add.reduceat(class_map == cid, row_edges, axis=0, dtype=np.int64), col_edges, axis=1)
    found = [
        {
            "rows": (int(r0), int(min(r0 + section_px, height))),
            "columns": (int(c0), int(min(c0 + section_px, width))),
            "pixels": int(hits[i, j]),
        }
        for i, r0 in enumerate(row_edges)
        for j, c0 in enumerate(col_edges)
        if hits[i, j]
    ]
    name = CLASS_NAMES[cid]
    for section in found[:max_figures]:
        rows, cols = slice(*section["rows"]), slice(*section["columns"])
        title = f"{stem}: {name} in rows {rows.start}:{rows.stop}, columns {cols.start}:{cols.stop}"
        figure = None
        if output is not None:
            figure = Path(output) / f"{stem}_{name.replace(' ', '_')}_r{rows.start:05d}_c{cols.start:05d}.png"
            refuse_existing([figure], force)
        visualize_label(fill_masked(image[rows, cols]), None, class_map[rows, cols], figure, title, show, only=cid)
    return found


def format_sections(found: list[dict], which: str | int) -> str:
    """Text listing of `check_one_object`'s sections: one line per section, frame coordinates."""
    name = CLASS_NAMES[class_id(which)]
    lines = [f"{len(found)} sections contain {name} (rows and columns 0-based, stop excluded):"]
    lines += [f"rows {s['rows'][0]}:{s['rows'][1]}, columns {s['columns'][0]}:{s['columns'][1]}: "
              f"{s['pixels']} px of {name}" for s in found]
    return "\n".join(lines)
