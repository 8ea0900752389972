"""The frames of a FITS run, planned before any work: files and HDUs taken, why others are not, output names.

A folder's FITS files are taken; every other entry is named with the reason
it is not. Each file's image HDUs are its frames (every plane of a cube),
or the one `--hdu` names; the plane, region and gain of each are checked
from the headers, so that a mistake is reported before the model loads.
Every output name is unique for each (file, HDU, plane), or the run is
refused before it starts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ccdseg.core.classes import CLASS_NAMES, class_id
from ccdseg.core.errors import UserInputError
from ccdseg.core import safe_write
from ccdseg.io.fits import ImageHdu, fits_stem, frame_region, hdu_text, image_hdus, is_fits_name

# %% Conventions: the names of a run's outputs
SEGMENTATION_SUFFIX = "_segmentation.fits"  # a file's class maps, its HDUs and EXTNAMEs
CLUSTERS_SUFFIX = "_clusters.fits"  # a file's cluster catalogue and its frame list
OVERVIEW_SUFFIX = "_overview.png"  # one per frame (HDU, plane)
RUN_CATALOGUE = "clusters.fits"  # every finished frame's clusters in the output folder (rebuilt at each run's end)
RUN_ROOT = "clusters.root"  # the same for ROOT-based analyses
RUN_SUMMARY = "clusters_summary.png"  # its charge or energy spectrum and cluster sizes
RUN_REPORT = "run_report.txt"  # every frame in the output folder: its HDU, clusters, model
RUN_FILES = (RUN_CATALOGUE, RUN_ROOT, RUN_SUMMARY, RUN_REPORT)  # and the lock file (`safe_write.LOCK_NAME`)
OTHER_COMPRESSIONS = (".bz2", ".xz", ".zip", ".z", ".7z", ".zst", ".lz4")  # astropy reads gzip only


# %% What is planned
@dataclass(frozen=True)
class FrameJob:
    """One frame: an image HDU's 2-D image, or one plane of its cube.

    label : the HDU as the catalogue's `hdu` column names it (EXTNAME, or
    HDUn when it has none or shares it); name : the frame's name (the
    catalogue's `frame` column, the stem of its overview); cube_planes :
    planes of its HDU's class map when every plane is segmented, else None.
    """

    hdu: ImageHdu
    plane: int | None
    label: str
    name: str
    cube_planes: int | None = None

    @property
    def where(self) -> str:
        """'HDU 1 (CCD_A) plane 2': the frame in its file, for messages."""
        return hdu_text(self.hdu.index, self.hdu.name) + ("" if self.plane is None else f" plane {self.plane}")


@dataclass(frozen=True)
class FileJob:
    """One input file to segment: its absolute path, the stem of its outputs, its primary header, its frames."""

    path: Path
    stem: str
    primary_header: object
    frames: tuple[FrameJob, ...]

    @property
    def segmentation_name(self) -> str:
        return f"{self.stem}{SEGMENTATION_SUFFIX}"

    @property
    def clusters_name(self) -> str:
        return f"{self.stem}{CLUSTERS_SUFFIX}"


@dataclass
class RunPlan:
    """What a run will do: the files (with their frames), the notes on inputs not taken, the errors found."""

    files: list[FileJob] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    inputs: int = 0  # input files taken, those that cannot be read included

    @property
    def n_frames(self) -> int:
        return sum(len(job.frames) for job in self.files)


def sections_name(frame_name: str, find: str | int) -> str:
    """The --find listing of a frame: `FRAME_CLASS_sections.txt`."""
    return f"{frame_name}_{CLASS_NAMES[class_id(find)].replace(' ', '_')}_sections.txt"


def safe_name(text: object) -> str:
    """`text` as part of a file name: letters, digits, '-' and '_' kept, anything else '_'."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text))


# %% The inputs of a folder
def _not_taken(entry: Path) -> str | None:
    """Why a folder entry is not taken as an input; None when it is a FITS file to segment."""
    name = entry.name
    if name in RUN_FILES or name == safe_write.LOCK_NAME:
        return "an output of a run of this tool"
    if name.endswith(OTHER_COMPRESSIONS) and is_fits_name(name[: name.rindex(".")]):
        return f"compressed as {name[name.rindex('.'):]}, which is not read: decompress it (only gzip and .fz are read)"
    if not is_fits_name(entry):
        return "not named as a FITS file (.fits, .fit, .fts, .fz, gzipped)"
    if name.startswith("."):
        return "hidden"
    if name.endswith((SEGMENTATION_SUFFIX, CLUSTERS_SUFFIX)):
        return "named as an output of this tool (a class map or a catalogue): rename it to segment it"
    if entry.is_dir():
        return "a folder"
    if not entry.is_file():
        return "a broken link or not a file"
    return None


def fits_inputs(path: Path) -> tuple[list[Path], list[str]]:
    """The FITS files to segment, sorted by name, absolute, and one note per reason naming every entry not taken.

    Not taken: sub-folders, broken links, hidden files (temporary files of
    interrupted runs are hidden), files named as this tool's outputs, files
    compressed in ways astropy does not read (.bz2, .xz, ...), and files not
    named as FITS files, so that an output folder can also be the input.
    """
    path = Path(path)
    if not path.is_dir():
        if not path.exists():
            raise UserInputError(f"{path}: no such file or folder")
        return [Path(os.path.abspath(path))], []
    files, skipped = [], {}
    for entry in sorted(path.iterdir()):
        reason = _not_taken(entry)
        if reason is None:
            files.append(Path(os.path.abspath(entry)))
        else:
            skipped.setdefault(reason, []).append(entry.name)
    if not files:
        raise UserInputError(f"{path}: no FITS file (.fits, .fit, .fts, .fz, gzipped) in this folder")
    return files, [f"{', '.join(names)} ({reason})" for reason, names in skipped.items()]


# %% The frames of a file
def header_gain(header) -> float | None:
    """The gain a header states (keyword GAIN, ADU per electron), or None; `UserInputError` unless a positive number."""
    if "GAIN" not in header:
        return None
    try:
        gain = float(header["GAIN"])
    except (TypeError, ValueError):
        raise UserInputError(f"header GAIN = {header['GAIN']!r} is not a number of ADU per electron") from None
    if not gain > 0:
        raise UserInputError(f"header GAIN = {gain:g} ADU per electron: a gain must be positive (or give --gain)")
    return gain


def _labels(images: list[ImageHdu]) -> list[str]:
    """Each image HDU's label: its EXTNAME when it has one of its own, else HDUn."""
    names = [image.name for image in images]
    return [n if n and names.count(n) == 1 else f"HDU{image.index}" for n, image in zip(names, images)]


def _frames(path: Path, stem: str, images: list[ImageHdu], options: dict) -> tuple[list[FrameJob], list[str]]:
    """The frames of one file's image HDUs, each checked (plane, region, gain); errors of those that cannot be."""
    frames, errors = [], []
    named = options.get("hdu") is None and len(images) > 1
    for image, label in zip(images, _labels(images)):
        cube = len(image.shape) == 3 and options.get("plane") is None
        for plane in range(image.shape[0]) if cube else [options.get("plane")]:
            try:
                frame_region(path, image.index, image.name, image.shape, image.header, plane, options.get("region"))
                if options.get("gain") is None:
                    _checked_gain(path, image)
            except UserInputError as exc:
                errors.append(str(exc))
                continue
            name = stem + (f"_{safe_name(label)}" if named else "") + (f"_plane{plane}" if cube else "")
            frames.append(FrameJob(image, plane, label, name, image.shape[0] if cube else None))
    return frames, errors


def _checked_gain(path: Path, image: ImageHdu) -> None:
    try:
        header_gain(image.header)
    except UserInputError as exc:
        raise UserInputError(f"{path}: {hdu_text(image.index, image.name)}: {exc}") from None


def file_stem(path: Path, hdu: int | str | None, plane: int | None) -> str:
    """Name stem of a file's outputs: its stem, plus the HDU when `--hdu` picks one, and the plane `--plane` picks."""
    stem = fits_stem(path) + ("" if hdu is None else f"_{safe_name(hdu)}")
    return stem if plane is None else f"{stem}_plane{plane}"


def plan_file(path: Path, options: dict) -> tuple[FileJob | None, list[str], list[str]]:
    """(the file's job, or None when no frame of it can be segmented; notes on HDUs not taken; errors)."""
    primary, images, notes = image_hdus(path, options.get("hdu"))
    stem = file_stem(path, options.get("hdu"), options.get("plane"))
    frames, errors = _frames(path, stem, images, options)
    job = FileJob(path, stem, primary, tuple(frames))
    return (job if frames else None), [f"{path}: {note}" for note in notes], errors


def plan_run(path: Path, **options) -> RunPlan:
    """Plan a run on a FITS file or folder: every file's frames, notes on what is not taken, errors, checked names.

    options : `hdu`, `plane`, `region`, `gain` (the user's, ADU per
    electron: header GAIN keywords are then not read), `find`. Files that
    cannot be read and frames that cannot be segmented are errors of the
    plan (the others go on); two frames whose outputs would share a name
    refuse the whole run (`UserInputError`).
    """
    plan = RunPlan()
    files, skipped = fits_inputs(path)
    plan.inputs = len(files)
    plan.notes += [f"{path}: not taken: {'; '.join(skipped)}"] if skipped else []
    for file in files:
        try:
            job, notes, errors = plan_file(file, options)
        except UserInputError as exc:
            plan.errors.append(str(exc))
            continue
        plan.notes += notes
        plan.errors += errors
        plan.files += [job] if job is not None else []
    check_unique_outputs(plan, path, options.get("find"))
    return plan


def check_unique_outputs(plan: RunPlan, path: Path, find: str | int | None = None) -> None:
    """Refuse (`UserInputError`) a run in which two inputs (file, HDU, plane) would write an output of one name."""
    writers: dict[str, list[str]] = {}
    for job in plan.files:
        for name in (job.segmentation_name, job.clusters_name):
            writers.setdefault(name, []).append(job.path.name)
        for frame in job.frames:
            source = job.path.name + ("" if len(job.frames) == 1 else f" {frame.where}")
            names = [f"{frame.name}{OVERVIEW_SUFFIX}"] + ([] if find is None else [sections_name(frame.name, find)])
            for name in names:
                writers.setdefault(name, []).append(source)
    for name, sources in writers.items():
        if len(set(sources)) > 1:
            raise UserInputError(f"{path}: {', '.join(dict.fromkeys(sources))} would all write {name}; move or rename"
                                 " all but one (each file, HDU and plane needs outputs of its own)")
