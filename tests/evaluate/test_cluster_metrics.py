"""Clusters as objects (ccdseg/evaluate/cluster_metrics.py): found, missed, merged, fake; efficiency, charge error."""
import numpy as np
import pytest

from ccdseg.core.classes import BACKGROUND, CLUSTER, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.evaluate import cluster_metrics
from ccdseg.evaluate.cluster_metrics import charge_error
from ccdseg.infer.catalogue import cluster_catalogue
from ccdseg.simulate.frame import simulate_frame
from tests.catalogue_frames import PEDESTAL_ADU, two_cluster_frame


def test_cluster_objects_counts_found_missed_merged_and_fake_clusters():
    truth = np.zeros((32, 32), dtype=np.uint8)
    charge = np.zeros((32, 32), dtype=np.float32)
    truth[2:4, 2:4], charge[2:4, 2:4] = CLUSTER, 50.0  # A: found through one pixel
    truth[10, 10], charge[10, 10] = CLUSTER, 30.0  # B: missed
    for k in range(3):  # C: a diagonal line, one 8-connected cluster
        truth[20 + k, 20 + k], charge[20 + k, 20 + k] = CLUSTER, 40.0
    truth[20, 24], charge[20, 24] = CLUSTER, 25.0  # D: merged with C in the prediction
    truth[5, 28] = HOT_PIXEL
    image = np.full((32, 32), 100.0, dtype=np.float32) + charge
    prediction = np.zeros_like(truth)
    prediction[3, 3:5] = CLUSTER  # overlaps A, reaches into the background
    prediction[20:23, 20:25] = CLUSTER  # covers C and D
    prediction[28, 5] = CLUSTER  # a fake
    image[28, 5] += 7.0

    objects = cluster_metrics.cluster_objects(image, truth, charge, prediction)

    np.testing.assert_allclose(objects["charge_adu"], [200.0, 30.0, 120.0, 25.0])
    assert objects["found"].tolist() == [True, False, True, True]
    assert objects["predicted"] == 3 and objects["fake"] == 1
    merged = image[20:23, 20:25].sum() - 15 * np.median(image)
    np.testing.assert_allclose(objects["reconstructed_adu"], [50.0, 0.0, merged, merged])


def test_cluster_summary_bins_add_up():
    rng = np.random.default_rng(3)
    objects = [
        {
            "charge_adu": rng.uniform(20, 5000, 6),
            "found": rng.uniform(size=6) < 0.7,
            "reconstructed_adu": rng.uniform(20, 5000, 6),
            "predicted": 5,
            "fake": 1,
        }
        for _ in range(4)
    ]
    summary = cluster_metrics.cluster_summary(objects)
    assert summary["true_clusters"] == 24 == sum(b["true"] for b in summary["bins"])
    assert summary["found"] == sum(b["found"] for b in summary["bins"])
    assert summary["fake_clusters"] == 4 and summary["fake_per_frame"] == 1.0
    assert summary["charge_error"]["count"] == summary["found"]


def test_efficiency_threshold_interpolates_in_log_charge():
    edges = np.array([10.0, 100.0, 1000.0, 10000.0])
    charge, how = cluster_metrics.efficiency_threshold(edges, [10, 10, 10], [5, 8, 10])
    assert how == "interpolated" and charge == pytest.approx(1000.0)
    assert cluster_metrics.efficiency_threshold(edges, [10, 10, 10], [9, 10, 10]) == (10.0, "below the first bin")
    assert cluster_metrics.efficiency_threshold(edges, [10, 10, 10], [10, 10, 5]) == (None, "not reached")
    # a bin with too few clusters to judge is left out
    charge, how = cluster_metrics.efficiency_threshold(edges, [10, 10, 2], [5, 10, 0])
    assert how == "interpolated" and 10 < charge < 1000


def test_charge_error_on_simulated_frames_with_truth_as_prediction():
    deposited, relative = [], []
    for seed in range(6):
        frame = simulate_frame(np.random.default_rng(seed), shape=(256, 256))
        cat = cluster_catalogue(frame.image, frame.truth, frame_name=f"sim{seed}")
        d, r = charge_error(cat, frame.truth, frame.cluster_adu, frame.truth)
        deposited.append(d)
        relative.append(r)
    deposited, relative = np.concatenate(deposited), np.concatenate(relative)
    assert np.isfinite(deposited).all()  # every predicted cluster is a true one here
    bright = deposited > 1000.0
    assert bright.sum() >= 20
    low, median, high = np.percentile(relative[bright], [16, 50, 84])
    print(f"charge error, clusters > 1000 ADU: median {median:+.4f}, 16 % {low:+.4f}, 84 % {high:+.4f}")
    assert abs(median) < 0.05
    assert low > -0.05


def test_charge_error_needs_the_class_map_of_the_catalogue():
    image, class_map = two_cluster_frame()
    cat = cluster_catalogue(image, class_map, pedestal_adu=PEDESTAL_ADU)
    truth = class_map.copy()
    truth[0, 15] = BACKGROUND  # the single pixel is a fake
    deposit = np.where(class_map == CLUSTER, image - PEDESTAL_ADU, 0.0)
    deposited, relative = charge_error(cat, truth, deposit * 0.8, class_map)
    assert np.isnan(deposited[0]) and deposited[1] == pytest.approx(1920.0)
    assert relative[1] == pytest.approx(0.25)
    with pytest.raises(UserInputError, match="not made from it"):
        charge_error(cat, truth, deposit, truth)
