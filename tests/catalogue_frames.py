"""A small frame with two clusters of hand-computed properties, for tests of catalogues."""
import numpy as np

from ccdseg.core.classes import BACKGROUND, CLUSTER

PEDESTAL_ADU = 1000.0
BLOCK_ADU = 100.0 * np.array([[1, 2, 1], [2, 10, 4], [1, 2, 1]], dtype=np.float64)


def two_cluster_frame(noise_adu: float = 0.0):
    """20 x 30 frame: a 3x3 block at rows 5-7, cols 8-10, and one 500 ADU pixel at row 0, col 15."""
    rng = np.random.default_rng(0)
    image = PEDESTAL_ADU + rng.normal(0.0, noise_adu, (20, 30)) if noise_adu else np.full((20, 30), PEDESTAL_ADU)
    class_map = np.full((20, 30), BACKGROUND, dtype=np.uint8)
    image[5:8, 8:11] += BLOCK_ADU
    class_map[5:8, 8:11] = CLUSTER
    image[0, 15] += 500.0
    class_map[0, 15] = CLUSTER
    return image.astype(np.float32), class_map
