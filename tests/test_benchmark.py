"""The benchmark: cluster matching, the 90 % efficiency point, the labelling loop, the quick report."""
import numpy as np
import pytest

import benchmark
from mask import BACKGROUND, CLUSTER, HOT_PIXEL, get_mask


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

    objects = benchmark.cluster_objects(image, truth, charge, prediction)

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
    summary = benchmark.cluster_summary(objects)
    assert summary["true_clusters"] == 24 == sum(b["true"] for b in summary["bins"])
    assert summary["found"] == sum(b["found"] for b in summary["bins"])
    assert summary["fake_clusters"] == 4 and summary["fake_per_frame"] == 1.0
    assert summary["charge_error"]["count"] == summary["found"]


def test_efficiency_threshold_interpolates_in_log_charge():
    edges = np.array([10.0, 100.0, 1000.0, 10000.0])
    charge, how = benchmark.efficiency_threshold(edges, [10, 10, 10], [5, 8, 10])
    assert how == "interpolated" and charge == pytest.approx(1000.0)
    assert benchmark.efficiency_threshold(edges, [10, 10, 10], [9, 10, 10]) == (10.0, "below the first bin")
    assert benchmark.efficiency_threshold(edges, [10, 10, 10], [10, 10, 5]) == (None, "not reached")
    # a bin with too few clusters to judge is left out
    charge, how = benchmark.efficiency_threshold(edges, [10, 10, 2], [5, 10, 0])
    assert how == "interpolated" and 10 < charge < 1000


def test_per_pixel_loop_equals_get_mask():
    images, _, _ = benchmark.simulate_test_set(1, 3, "banded")  # seed 3 has glowing columns
    looped = benchmark.get_mask_per_pixel(images)
    assert np.array_equal(looped, get_mask(images))
    assert np.all(looped.reshape(-1, 4).sum(axis=0) > 0)


def test_test_sets_are_the_simulator_data_sets():
    from image_simulation import simulate_dataset

    images, truth, charge = benchmark.simulate_test_set(2, 5, "mixed")
    expected_images, expected_truth = simulate_dataset(2, 5, "mixed", progress=False)
    assert np.array_equal(images, expected_images) and np.array_equal(truth, expected_truth)
    assert np.all(charge[truth == CLUSTER] > 0) and np.all(charge[truth == BACKGROUND] < 20)


def test_missing_model_is_a_one_line_error(tmp_path, capsys):
    assert benchmark.main(["--quick", "--model", str(tmp_path / "nope.keras"), "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nope.keras" in err[0]


def test_existing_report_needs_force(tmp_path, capsys):
    (tmp_path / "benchmark.json").write_text("{}")
    assert benchmark.main(["--quick", "--output", str(tmp_path)]) == 1
    assert "--force" in capsys.readouterr().err
