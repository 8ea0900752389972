"""Data sets of simulated frames: the one simulation loop of the project, and what a data set may cost.

Frame i of a data set uses its own generator spawned from the seed, so it
does not depend on how many frames are made.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ccdseg.core.checks import MIN_FRAME_PX
from ccdseg.core.errors import UserInputError
from ccdseg.simulate.cluster_library import load_cluster_library
from ccdseg.simulate.frame import simulate_frame
from ccdseg.simulate.detector import PRESETS, REGIMES, Detector, draw_physics
from ccdseg.simulate.parameters import SimulationParameters
from ccdseg.simulate.skipper import simulate_skipper_frame

# %% Defaults
FRAME_SIZE_PX = (256, 256)
WORK_BYTES_PER_PX = 48  # float64 noise, charge and masks of the frame being built


# %% Functions
def simulate_frames(
    count: int,
    seed: int,
    layout: str = "mixed",
    size: tuple[int, int] = FRAME_SIZE_PX,
    params: SimulationParameters | Detector | None = None,
    vary_physics: bool = False,
    progress: bool = True,
    library: list[np.ndarray] | None = None,
    draw_params: Callable[[np.random.Generator], SimulationParameters | Detector] | None = None,
    detector: str = "damic-2020",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate `count` frames: the one simulation loop of the project.

    Returns images (n, h, w) float32 ADU, truth (n, h, w) uint8 class ids and
    the deposited cluster charge (n, h, w) float32 ADU. Frame i uses its own
    generator spawned from `seed`, so it does not depend on `count`.

    detector : the kind of frame, a key of `detector.PRESETS` ('damic-2020',
        the original's CCD frames, or 'damic-m', skipper-CCD amplifier
        frames), or 'both' (with `vary_physics`: each frame draws its regime).
    params : the physics of every frame (default: the detector's preset).
    vary_physics : each frame draws its own physics from the detector's
        range (`detector.draw_physics`), for training robust models;
        `draw_params` replaces that draw (held-out physics).
    library : replaces `Cluster.pkl` for frames of the 2020 kind (held-out
        cluster populations); `layout` ('banded') applies to them only.
    """
    check_request(count, seed, size)
    if detector not in REGIMES:
        raise UserInputError(f"detector {detector!r} is not one of {', '.join(REGIMES)}")
    if detector == "both" and not vary_physics and draw_params is None and params is None:
        raise UserInputError("frames of both detectors need --vary-physics (each frame draws its regime)")
    library = library if library is not None else load_cluster_library()
    if draw_params is None and vary_physics:
        draw_params = partial(draw_physics, detector)
    fixed = params if params is not None else PRESETS.get(detector)
    images = np.empty((count, *size), dtype=np.float32)
    truth = np.empty((count, *size), dtype=np.uint8)
    cluster_adu = np.empty((count, *size), dtype=np.float32)
    seeds = np.random.SeedSequence(seed).spawn(count)
    for i in tqdm(range(count), desc="simulating", unit="frame", disable=not progress, leave=False):
        rng = np.random.default_rng(seeds[i])
        physics = draw_params(rng) if draw_params is not None else fixed
        if isinstance(physics, Detector):
            frame = simulate_skipper_frame(rng, physics, size)
        else:
            frame = simulate_frame(rng, physics, layout, size, library)
        images[i], truth[i], cluster_adu[i] = frame.image, frame.truth, frame.cluster_adu
    return images, truth, cluster_adu


def available_memory_bytes() -> int:
    """Memory the system can give now (MemAvailable of /proc/meminfo; physical memory elsewhere)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_request(count: int, seed: int, size: tuple[int, int]) -> None:
    """Refuse, in one line, a data set that cannot be made: bad count, seed or size, or too big for memory.

    A data set holds 9 bytes a pixel (image, truth, charge); building one
    frame takes about `WORK_BYTES_PER_PX` more per pixel of that frame.
    """
    if count < 1:
        raise UserInputError(f"--count must be at least 1, not {count}")
    if seed < 0:
        raise UserInputError(f"--seed must be 0 or more, not {seed}")
    if len(size) != 2 or min(size) < MIN_FRAME_PX:
        raise UserInputError(f"--size must be two numbers of at least {MIN_FRAME_PX} px (the smallest frame every"
                             f" script accepts), not {' '.join(map(str, size))}")
    height, width = size
    needed = count * height * width * 9 + height * width * WORK_BYTES_PER_PX
    available = available_memory_bytes()
    if needed > available:
        raise UserInputError(
            f"{count} frames of {height} x {width} px need about {needed / 2**30:.1f} GiB of memory;"
            f" {available / 2**30:.1f} GiB is available: make fewer or smaller frames"
        )


def simulate_dataset(
    count: int,
    seed: int,
    layout: str = "mixed",
    size: tuple[int, int] = FRAME_SIZE_PX,
    params: SimulationParameters | Detector | None = None,
    vary_physics: bool = False,
    progress: bool = True,
    detector: str = "damic-2020",
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate `count` frames: images (n, h, w) float32 ADU and truth (n, h, w) uint8 (`simulate_frames`)."""
    images, truth, _ = simulate_frames(count, seed, layout, size, params, vary_physics, progress, detector=detector)
    return images, truth
