"""The experiment's reconstruction as a baseline finder (ccdseg/evaluate/reference.py)."""
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from ccdseg.core.classes import CLUSTER, GLOWING, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.evaluate.reference import (
    REFERENCE_GRID,
    reference_cluster_energies,
    reference_labels,
)
from ccdseg.simulate.detector import DAMIC_M
from ccdseg.simulate.frame import simulate_frame
from ccdseg.simulate.skipper import simulate_skipper_frame

QUIET = {"hot_columns_per_frame": 0.0, "serial_streaks_per_frame": 0.0, "amplifier_glow_probability": 0.0}
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def _deposits(cluster_adu: np.ndarray) -> tuple[np.ndarray, int]:
    return ndimage.label(cluster_adu > 0, structure=EIGHT_CONNECTED)


def _found(labels: np.ndarray, objects: np.ndarray, count: int) -> np.ndarray:
    """(count,) bool: whether each true object has a pixel labelled CLUSTER."""
    return np.asarray(ndimage.maximum(labels == CLUSTER, objects, np.arange(1, count + 1)), dtype=bool)


def test_x_ray_deposits_of_the_iron_line_are_found_with_their_energy():
    detector = replace(DAMIC_M, deposit_mixture={"x-ray": 1.0}, clusters_per_frame=200.0, **QUIET)
    frame = simulate_skipper_frame(np.random.default_rng(1), detector, (128, 256))
    labels = reference_labels(frame.image)
    objects, count = _deposits(frame.cluster_adu)
    electrons = ndimage.sum(frame.cluster_adu, objects, np.arange(1, count + 1)) / detector.gain_adu_per_electron
    x_rays = electrons >= 1000.0  # 5.9 keV is about 1,573 electrons; tiny objects are trail pixels cut off by edges
    assert x_rays.sum() >= 20
    assert _found(labels, objects, count)[x_rays].all()
    energies_ev = reference_cluster_energies(frame.image, labels)[0]
    assert abs(np.median(energies_ev) - 5900.0) < 0.03 * 5900.0


def test_dark_current_alone_gives_no_cluster():
    detector = replace(DAMIC_M, dark_current_electrons_per_pixel=2.0, clusters_per_frame=0.0, **QUIET)
    frame = simulate_skipper_frame(np.random.default_rng(2), detector, (320, 640))
    assert not (reference_labels(frame.image) == CLUSTER).any()
    # the experiment's seed rule alone (no dark-current guard) seeds hundreds of one-pixel clusters here
    assert np.count_nonzero(reference_labels(frame.image, seed_false_alarm=0.999) == CLUSTER) > 50


def test_first_column_is_glowing_and_a_hot_column_hot_never_cluster():
    detector = replace(DAMIC_M, hot_columns=((100, 5.0),))
    frame = simulate_skipper_frame(np.random.default_rng(3), detector, (320, 640))
    labels = reference_labels(frame.image)
    assert (labels[:, 0] == GLOWING).all()
    assert (labels[:, 100] == HOT_PIXEL).all()
    assert np.count_nonzero(labels == CLUSTER) > 1000  # the frame's 130 clusters are there, only not on the columns


def test_amplifier_glow_at_the_readout_corner_is_glowing_not_cluster():
    detector = replace(DAMIC_M, amplifier_glow_probability=1.0, amplifier_glow_electrons=20.0,
                       amplifier_glow_length_px=25.0, clusters_per_frame=0.0, hot_columns_per_frame=0.0,
                       serial_streaks_per_frame=0.0)
    frame = simulate_skipper_frame(np.random.default_rng(5), detector, (320, 640))
    labels = reference_labels(frame.image)
    assert (labels[:20, :20] == GLOWING).mean() > 0.9
    assert not (labels == CLUSTER).any()


def test_a_serial_register_streak_is_hot_pixel_not_cluster():
    detector = replace(DAMIC_M, clusters_per_frame=0.0, **QUIET)
    rng = np.random.default_rng(7)
    image = simulate_skipper_frame(rng, detector, (320, 640)).image
    image[150, 200:400] += rng.poisson(5.0, 200) * detector.gain_adu_per_electron  # often >= 8 electrons a pixel
    labels = reference_labels(image)
    assert (labels[150, 200:400] == HOT_PIXEL).mean() > 0.95
    assert not (labels == CLUSTER).any()


@pytest.mark.parametrize("peak_electrons, found", [(7, False), (9, True)])
def test_a_deposit_is_found_only_with_a_seed_pixel_of_30_ev(peak_electrons, found):
    detector = replace(DAMIC_M, dark_current_electrons_per_pixel=0.1, clusters_per_frame=0.0, **QUIET)
    image = simulate_skipper_frame(np.random.default_rng(4), detector, (128, 256)).image
    deposit = np.array([[2, 4, 2], [4, peak_electrons, 4], [2, 4, 2]], dtype=np.float32)
    image[60:63, 100:103] += deposit * detector.gain_adu_per_electron  # 7 electrons = 26 eV, 9 = 34 eV
    labels = reference_labels(image)
    clusters = labels == CLUSTER
    assert bool(clusters[60:63, 100:103].all()) == found
    clusters[57:66, 97:106] = False  # the deposit may pick up dark-current electrons beside it
    assert not clusters.any()


def test_frames_of_the_2020_kind_bright_clusters_found_glowing_columns_glowing():
    frame = simulate_frame(np.random.default_rng(1), None, "mixed", (256, 256))
    assert (frame.truth == GLOWING).sum() > 5000
    labels = reference_labels(frame.image)
    assert np.array_equal(reference_labels(frame.image, gain_adu_per_electron=10.0), labels)  # held, still unresolved
    assert (labels[frame.truth == GLOWING] == GLOWING).mean() > 0.98
    objects, count = _deposits(frame.cluster_adu)
    peaks = np.asarray(ndimage.maximum(frame.cluster_adu, objects, np.arange(1, count + 1)))
    bright = peaks >= 40.0 * frame.params.noise_sigma_adu
    assert bright.sum() >= 3
    assert _found(labels, objects, count)[bright].all()


def test_output_shape_and_dtype_for_one_frame_and_a_stack():
    rng = np.random.default_rng(6)
    stack = np.stack([simulate_skipper_frame(rng, DAMIC_M, (64, 96)).image for _ in range(2)])
    labels = reference_labels(stack)
    assert labels.shape == stack.shape and labels.dtype == np.uint8
    single = reference_labels(stack[1])
    assert single.shape == stack[1].shape and single.dtype == np.uint8
    assert np.array_equal(single, labels[1])


def test_the_grid_holds_the_experiments_defaults():
    assert 15.0 in REFERENCE_GRID["seed_sigma"] and 30.0 in REFERENCE_GRID["seed_ev"]
    assert 10 <= np.prod([len(values) for values in REFERENCE_GRID.values()]) <= 16


@pytest.mark.parametrize("arguments", [{"seed_sigma": 0.0}, {"seed_sigma": -1.0}, {"gain_adu_per_electron": -1.3},
                                       {"grow_sigma": -1.0}, {"seed_false_alarm": 1.5}])
def test_bad_arguments_raise_user_errors(arguments):
    image = np.zeros((32, 32), dtype=np.float32)
    with pytest.raises(UserInputError):
        reference_labels(image, **arguments)


def test_a_bad_shape_raises_a_user_error():
    with pytest.raises(UserInputError):
        reference_labels(np.zeros(8, dtype=np.float32))
