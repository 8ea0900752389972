"""What a file's outputs record of how they were made, and what a resumed run compares before trusting them.

Every class-map file and catalogue records its input's size and modification
time, a key of the models (their files' checksums) and of the options that
change outputs, and those options in words. A resumed run takes a file as
done only when its outputs all record the same, hold every frame asked for,
and are whole (the overviews too); outputs of other input content or other
options are redone with `--force`, and refused without it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ccdseg.core.errors import UserInputError
from ccdseg.infer import run_plan, runtime
from ccdseg.infer.run_plan import FileJob, sections_name
from ccdseg.io.catalogue import catalogue_header, read_catalogue_fits
from ccdseg.io.class_map_fits import layout_key, read_class_map_layout
from ccdseg.io.fits import header_text
from ccdseg.model.card import card_path

# %% Conventions
OUTPUT_OPTIONS = ("hdu", "plane", "region", "find", "figures", "tile_px", "margin_px", "max_adu", "gain")
OPTION_NAMES = {"tile_px": "--tile", "margin_px": "--margin", "max_adu": "--max-adu"}  # the others: --NAME
PNG_END = b"IEND\xaeB`\x82"  # the last chunk of every whole PNG file


# %% The record of a run
def model_identity(path: str | Path) -> str:
    """'default.keras 1a2b3c4d5e6f': a model file's name and a checksum of it and its card."""
    path = Path(path)
    digest = hashlib.sha256()
    for part in (path, card_path(path)):
        if part.is_file():
            with open(part, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return f"{path.name} {digest.hexdigest()[:12]}"


def ran_precision(segmenter) -> str:
    """The arithmetic the network really runs in: bfloat16 asked of OpenVINO on a CPU without it runs float32."""
    if segmenter.precision == "bfloat16" and segmenter.runtime == "openvino" and not runtime.native_bfloat16():
        return "float32"
    return segmenter.precision


def run_record(models: dict, options: dict) -> dict:
    """What the outputs of a run depend on: each model (`model_identity`), its precision as run, and the options.

    models : {kind: Segmenter} (`ModelChoice.models`); options : the run's
    options, of which `OUTPUT_OPTIONS` are kept.
    """
    return {
        "models": {kind: model_identity(seg.path) for kind, seg in sorted(models.items())},
        "precision": {kind: ran_precision(seg) for kind, seg in sorted(models.items())},
        "options": {key: options.get(key) for key in OUTPUT_OPTIONS},
    }


def record_key(record: dict) -> str:
    """16 hexadecimal digits that change with anything in `record`."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def input_stamp(path: Path) -> tuple[int, int]:
    """(size in bytes, modification time in ns) of an input file: a change of its content changes them."""
    stat = Path(path).stat()
    return int(stat.st_size), int(stat.st_mtime_ns)


def record_cards(record: dict, stamp: tuple[int, int]) -> dict:
    """The header cards recording `record` and the input's stamp (`input_stamp`, taken as it was read)."""
    size, mtime_ns = stamp
    return {
        "SEGKEY": (record_key(record), "key of the models and options (resume)"),
        "SEGISIZE": (size, "input file size, bytes (resume)"),
        "SEGIMTIM": (str(mtime_ns), "input modification time, ns (resume)"),
        "SEGOPTS": (header_text(json.dumps(record, sort_keys=True, default=str)), "models and options, JSON"),
    }


# %% Comparing with outputs on disk
def _difference(header, record: dict, path: Path) -> str | None:
    """Why outputs whose header is `header` were not made from `path` as it is now with `record`; None if they were."""
    if "SEGKEY" not in header:
        return "made by another program or an older version (no record of input or options)"
    size, mtime_ns = input_stamp(path)
    if str(header.get("SEGISIZE")) != str(size) or str(header.get("SEGIMTIM")) != str(mtime_ns):
        return "made from other content of the input (its size or modification time differ)"
    if header["SEGKEY"] == record_key(record):
        return None
    try:
        before = json.loads(str(header.get("SEGOPTS", "{}")))
    except ValueError:
        before = {}
    if before.get("models") != record["models"] or before.get("precision") != record["precision"]:
        return f"made with another model or precision ({before.get('models')}, {before.get('precision')})"
    changed = [f"{OPTION_NAMES.get(key, '--' + key)} {before.get('options', {}).get(key)} -> {value}"
               for key, value in record["options"].items() if before.get("options", {}).get(key) != value]
    return f"made with other options ({', '.join(changed) or 'unknown'})"


def _whole_png(path: Path) -> bool:
    """Whether `path` is a PNG file written to its end."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(8)
            handle.seek(max(path.stat().st_size - 8, 0))
            return start == b"\x89PNG\r\n\x1a\n" and handle.read(8) == PNG_END
    except OSError:
        return False


def _expected_shapes(job: FileJob) -> dict[str, tuple[int, ...]]:
    """{`layout_key`: shape} of the class maps a file's outputs must hold (`read_class_map_layout`)."""
    shapes = {}
    for frame in job.frames:
        shape = frame.hdu.shape if frame.cube_planes else frame.hdu.shape[-2:]
        shapes[layout_key(frame.hdu.index, frame.hdu.name)] = shape
    return shapes


def file_status(job: FileJob, output: Path, record: dict, find: str | int | None = None) -> tuple[str, str]:
    """Whether a file's outputs in `output` are 'done', to be 'redone' (an interrupted run), 'stale' or 'new'.

    Returns (status, why). 'done': the class maps and the catalogue record
    this input as it is and `record`, hold every frame of `job`, and every
    overview (and --find listing) is whole. 'stale': an output records other
    input content or another record (why says what differs). 'redone': some
    output is missing or broken, none is stale. 'new': no output is there.
    """
    segmentation, clusters = output / job.segmentation_name, output / job.clusters_name
    pictures = [output / f"{frame.name}{run_plan.OVERVIEW_SUFFIX}" for frame in job.frames]
    listings = [] if find is None else [output / sections_name(frame.name, find) for frame in job.frames]
    if not any(p.exists() for p in (segmentation, clusters, *pictures, *listings)):
        return "new", ""
    whole = all(_whole_png(p) for p in pictures) and all(p.is_file() for p in listings)
    try:
        primary, shapes = read_class_map_layout(segmentation)
        header = catalogue_header(clusters)
        _, frames = read_catalogue_fits(clusters, with_frames=True)
    except UserInputError as exc:
        headers = [h for h in (_readable(read_class_map_layout, segmentation), _readable(catalogue_header, clusters))
                   if h is not None]
        why = next((w for h in headers if (w := _difference(h, record, job.path))), None)
        return ("stale", why) if why else ("redone", str(exc))
    why = _difference(primary, record, job.path) or _difference(header, record, job.path)
    if why:
        return "stale", why
    listed = set() if frames is None else set(frames["frame"].tolist())
    if shapes != _expected_shapes(job) or not {header_text(f.name) for f in job.frames} <= listed or not whole:
        return "redone", "outputs incomplete"
    return "done", ""


def _readable(read, path: Path):
    """The header `read(path)` gives (the first item of a tuple), or None when the file is missing or broken."""
    try:
        result = read(path)
    except UserInputError:
        return None
    return result[0] if isinstance(result, tuple) else result
