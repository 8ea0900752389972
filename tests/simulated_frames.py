"""Simulated frames for tests of segmentation: one `mixed` frame of any shape from a seed."""
import numpy as np

from ccdseg.simulate.frame import simulate_frame


def simulated(shape, seed=1):
    """The image (h, w) float32 ADU of a simulated `mixed` frame."""
    return simulate_frame(np.random.default_rng(seed), None, "mixed", shape).image
