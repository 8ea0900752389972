"""Data sets of simulated frames: the one simulation loop of the project, and what a data set may cost.

Frame i of a data set uses its own generator spawned from the seed, so it
does not depend on how many frames are made.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ccdseg.core.errors import UserInputError
from ccdseg.simulate.cluster_library import load_cluster_library
from ccdseg.simulate.frame import simulate_frame
from ccdseg.simulate.parameters import SimulationParameters, random_parameters

# %% Defaults
FRAME_SIZE_PX = (256, 256)
WORK_BYTES_PER_PX = 48  # float64 noise, charge and masks of the frame being built


# %% Functions
def simulate_frames(
    count: int,
    seed: int,
    layout: str = "mixed",
    size: tuple[int, int] = FRAME_SIZE_PX,
    params: SimulationParameters | None = None,
    vary_physics: bool = False,
    progress: bool = True,
    library: list[np.ndarray] | None = None,
    draw_params: Callable[[np.random.Generator], SimulationParameters] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate `count` frames: the one simulation loop of the project.

    Returns images (n, h, w) float32 ADU, truth (n, h, w) uint8 class ids and
    the deposited cluster charge (n, h, w) float32 ADU. Frame i uses its own
    generator spawned from `seed`, so it does not depend on `count`. With
    `vary_physics` each frame draws its own pedestal, noise, gain and
    intensities (`parameters.random_parameters`), for training robust
    models; `draw_params` replaces that draw (held-out physics);
    `library` replaces `Cluster.pkl` (held-out cluster populations).
    """
    check_request(count, seed, size)
    library = library if library is not None else load_cluster_library()
    draw_params = draw_params or (random_parameters if vary_physics else None)
    images = np.empty((count, *size), dtype=np.float32)
    truth = np.empty((count, *size), dtype=np.uint8)
    cluster_adu = np.empty((count, *size), dtype=np.float32)
    seeds = np.random.SeedSequence(seed).spawn(count)
    for i in tqdm(range(count), desc="simulating", unit="frame", disable=not progress, leave=False):
        rng = np.random.default_rng(seeds[i])
        frame_params = draw_params(rng) if draw_params is not None else params
        frame = simulate_frame(rng, frame_params, layout, size, library)
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
    if len(size) != 2 or min(size) < 1:
        raise UserInputError(f"--size must be two positive numbers of pixels, not {' '.join(map(str, size))}")
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
    params: SimulationParameters | None = None,
    vary_physics: bool = False,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate `count` frames: images (n, h, w) float32 ADU and truth (n, h, w) uint8 (`simulate_frames`)."""
    images, truth, _ = simulate_frames(count, seed, layout, size, params, vary_physics, progress)
    return images, truth
