"""The threshold labels (ccdseg/simulate/thresholds.py): exact on noise-free frames, from the parameters, fast."""
import time

import numpy as np

from ccdseg.simulate import parameters, thresholds
from ccdseg.simulate.frame import simulate_frame


def test_thresholds_reproduce_truth_on_noise_free_frames(library):
    params = parameters.noise_free()
    rng = np.random.default_rng(11)
    for layout in ("banded", "mixed"):
        for _ in range(4):
            frame = simulate_frame(rng, params, layout=layout, library=library)
            labels = thresholds.get_class(frame.image, params)
            wrong = labels != frame.truth
            if layout == "banded":
                # only a cluster pixel whose charge falls inside the glowing or hot band can differ
                glow_lo, glow_hi = params.glowing_adu
                c = frame.cluster_adu
                in_band = ((c >= glow_lo) & (c <= glow_hi)) | (c == params.hot_pixel_adu)
                assert not np.any(wrong & ~in_band)
            else:
                # overlaps can only blur pixels that hold cluster charge
                assert not np.any(wrong & (frame.cluster_adu == 0))
                assert wrong.mean() < 0.02


def test_thresholds_follow_simulation_parameters(library):
    params = parameters.noise_free(parameters.SimulationParameters(pedestal_adu=1000.0, hot_pixel_adu=5000.0, glowing_adu=(300.0, 320.0)))
    frame = simulate_frame(np.random.default_rng(12), params, layout="banded", library=library)
    labels = thresholds.get_class(frame.image, params)
    assert (labels == frame.truth).mean() > 0.999


def test_get_mask_is_one_hot_of_the_frames():
    images = np.full((2, 5, 5), 8800.0, np.float32)
    assert thresholds.get_mask(images).shape == (2, 5, 5, 4)


def test_labelling_is_vectorised_fast():
    images = np.random.default_rng(0).normal(8800, 19, (200, 256, 256)).astype(np.float32)
    start = time.perf_counter()
    thresholds.get_mask(images)
    assert time.perf_counter() - start < 5.0
