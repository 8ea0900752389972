"""Plots of results (ccdseg/plots/results.py): each takes arrays and numbers and writes a PNG."""
import numpy as np

from ccdseg.infer.catalogue import cluster_catalogue
from ccdseg.plots.results import plot_confusion, plot_injection, plot_learning_curves, plot_summary
from ccdseg.simulate.frame import simulate_frame

PNG = b"\x89PNG\r\n\x1a\n"


def test_summary_plot_is_written(tmp_path):
    frame = simulate_frame(np.random.default_rng(2), shape=(128, 128))
    cat = cluster_catalogue(frame.image, frame.truth)
    path = plot_summary(cat["charge_adu"], cat["n_pixels"], tmp_path / "summary.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = cluster_catalogue(frame.image, np.zeros_like(frame.truth))
    assert plot_summary(empty["charge_adu"], empty["n_pixels"], tmp_path / "empty.png").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png", "summary.png"]


def test_injection_plot_is_written(tmp_path):
    result = {"charges_adu": [200, 1500], "efficiency": [0.5, 1.0], "efficiency_low": [0.3, 0.9],
              "efficiency_high": [0.7, 1.0], "fakes_per_frame": 0.0}
    results = {"perfect": result, "other": dict(result, fakes_per_frame=0.25)}
    path = tmp_path / "figures" / "efficiency.png"
    plot_injection(results, path)
    assert path.exists() and path.read_bytes()[:8] == PNG


def test_learning_curves_and_confusion_matrix_are_written(tmp_path):
    log = tmp_path / "unet.log"
    log.write_text("epoch,loss,val_loss,accuracy,val_accuracy,val_f1_cluster\n"
                   "0,1.0,1.2,0.8,0.7,0.1\n1,0.5,0.9,0.9,0.8,0.3\n")
    plot_learning_curves(log, tmp_path / "learning_curves.png", show=False)
    plot_confusion(np.array([[90, 1, 0, 2], [0, 5, 0, 0], [0, 0, 1, 0], [3, 0, 0, 6]]), tmp_path / "confusion.png",
                   show=False)
    assert all((tmp_path / name).read_bytes()[:8] == PNG for name in ("learning_curves.png", "confusion.png"))
    (tmp_path / "empty.log").write_text("epoch,loss\n")
    plot_learning_curves(tmp_path / "empty.log", tmp_path / "none.png", show=False)
    assert not (tmp_path / "none.png").exists()
