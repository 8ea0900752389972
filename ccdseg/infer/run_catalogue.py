"""A run's catalogue, rebuilt at its end from every finished file in the output folder.

The run's files (`clusters.fits` with its FRAMES table, `clusters.root`, the
summary plot and `run_report.txt`) hold every frame whose file's catalogue
is in the output folder: those of this run, of earlier runs, and frames
without any cluster, each listed with its cluster count. A later run on one
file of the folder therefore never shrinks them.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ccdseg.core.errors import UserInputError
from ccdseg.core.safe_write import save_text
from ccdseg.infer import run_plan
from ccdseg.io.catalogue import (
    catalogue_header,
    concatenate,
    concatenate_frames,
    read_catalogue_fits,
    write_catalogue_fits,
    write_catalogue_root,
)
from ccdseg.plots.results import plot_summary


# %% Functions
def finished_catalogues(output: Path) -> tuple[list[dict], list[dict], list[str]]:
    """(catalogues, frame lists, notes) of every file's catalogue in `output` that this tool wrote whole.

    A file's catalogue is `STEM_clusters.fits` with the record of a run
    (`SEGKEY`) and a FRAMES table; one that cannot be read is left out and
    named in a note.
    """
    catalogues, frames, notes = [], [], []
    for path in sorted(output.glob(f"*{run_plan.CLUSTERS_SUFFIX}")):
        if path.name.startswith("."):
            continue
        try:
            if "SEGKEY" not in catalogue_header(path):
                continue
            catalogue, listed = read_catalogue_fits(path, with_frames=True)
        except UserInputError as exc:
            notes.append(f"left out of the run's catalogue: {exc}")
            continue
        if listed is not None:
            catalogues.append(catalogue)
            frames.append(listed)
    return catalogues, frames, notes


def report_text(frames: dict, n_files: int) -> str:
    """The run's report: one line per frame (its file, HDU, plane, clusters, masked pixels, gain, model)."""
    lines = [f"{len(frames['frame'])} frames of {n_files} files; per frame: file, HDU, plane, clusters, masked px,"
             " gain (ADU per electron), model"]
    for number in range(len(frames["frame"])):
        plane = "-" if frames["plane"][number] < 0 else str(frames["plane"][number])
        gain = "unknown" if not np.isfinite(frames["gain"][number]) else f"{frames['gain'][number]:.4g}"
        lines.append(f"{frames['frame'][number]}: {frames['source'][number]} {frames['hdu'][number]} plane {plane}:"
                     f" {frames['n_clusters'][number]} clusters, {frames['n_masked'][number]} masked px, gain {gain},"
                     f" {frames['model'][number]}")
    return "\n".join(lines) + "\n"


def finish_run(output: Path) -> None:
    """Write the run's catalogue (FITS and ROOT), summary plot and report from every finished file in `output`."""
    catalogues, frame_lists, notes = finished_catalogues(output)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not catalogues:
        return
    run, frames = concatenate(catalogues), concatenate_frames(frame_lists)
    write_catalogue_fits(output / run_plan.RUN_CATALOGUE, run, force=True, frames=frames)
    write_catalogue_root(output / run_plan.RUN_ROOT, run, force=True, frames=frames)
    plot_summary(run["charge_adu"], run["n_pixels"], output / run_plan.RUN_SUMMARY, run["energy_kev"])
    save_text(output / run_plan.RUN_REPORT, report_text(frames, len(catalogues)), force=True)
    print(f"{len(run['cluster_id'])} clusters of {len(frames['frame'])} frames ({len(catalogues)} files) in {output}"
          f" -> {run_plan.RUN_CATALOGUE}, {run_plan.RUN_ROOT}, {run_plan.RUN_SUMMARY}, {run_plan.RUN_REPORT}",
          file=sys.stderr)
