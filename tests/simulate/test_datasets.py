"""Data sets of simulated frames (ccdseg/simulate/datasets.py): frame i apart from the count, varied physics, charge."""
import numpy as np

from ccdseg.core.classes import BACKGROUND, CLUSTER
from ccdseg.simulate import datasets


def test_frame_i_does_not_depend_on_count():
    few, _ = datasets.simulate_dataset(2, seed=3, progress=False)
    many, _ = datasets.simulate_dataset(5, seed=3, progress=False)
    assert np.array_equal(few, many[:2])


def test_varied_physics_changes_pedestal_between_frames():
    images, _ = datasets.simulate_dataset(4, seed=2, vary_physics=True, progress=False)
    medians = np.median(images, axis=(1, 2))
    assert np.ptp(medians) > 100


def test_simulate_frames_gives_the_deposited_charge_of_the_truth():
    images, truth, charge = datasets.simulate_frames(2, 5, "mixed", progress=False)
    expected_images, expected_truth = datasets.simulate_dataset(2, 5, "mixed", progress=False)
    assert np.array_equal(images, expected_images) and np.array_equal(truth, expected_truth)
    assert np.all(charge[truth == CLUSTER] > 0) and np.all(charge[truth == BACKGROUND] < 20)
