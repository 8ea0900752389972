"""benchmark.py: its command line, and a reduced --quick run's report (quality, clusters, injection, speed)."""
import contextlib
import io
import json
import math

import pytest

import benchmark
from ccdseg.core import paths
from ccdseg.core.classes import CLASS_NAMES, to_one_hot
from ccdseg.evaluate import speed
from ccdseg.model import normalisation
from ccdseg.model import unet as models
from ccdseg.model.card import card_path
from ccdseg.simulate.datasets import simulate_dataset


def test_missing_model_is_a_one_line_error(tmp_path, capsys):
    assert benchmark.main(["--quick", "--model", str(tmp_path / "nope.keras"), "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nope.keras" in err[0]


def test_existing_report_needs_force(tmp_path, capsys):
    (tmp_path / "benchmark.json").write_text("{}")
    assert benchmark.main(["--quick", "--output", str(tmp_path)]) == 1
    assert "--force" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert benchmark.main(["--quick", "--output", str(tmp_path / "a_file")]) == 1
    assert "not a folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    """A reduced --quick run with a tiny model, the shipped model absent, one training preset timed."""
    folder = tmp_path_factory.mktemp("benchmark")
    images, truth = simulate_dataset(4, 3, progress=False)
    model = models.unet(depth=2, base_filters=4, dropout=0.0, reg=0.0, optimizer="adam")
    model.fit(normalisation.normalise_frames(images), to_one_hot(truth), epochs=1, batch_size=2, verbose=0)
    model_path = folder / "m.keras"
    model.save(model_path)
    card_path(model_path).write_text(json.dumps({"depth": 2}))
    output = folder / "out"
    argv = ["--quick", "--model", str(model_path), "--output", str(output)]
    argv += ["--frames", "3", "--train-frames", "2", "--inference-size", "512"]
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout):
        patch.setattr(paths, "DEFAULT_MODEL", folder / "absent.keras")
        patch.setattr(speed, "TRAIN_PRESETS", ("default",))
        status = benchmark.main(argv)
    return status, output, stdout.getvalue()


def test_quick_run_writes_json_markdown_and_plot(quick_report):
    status, output, stdout = quick_report
    assert status == 0
    report = json.loads((output / "benchmark.json").read_text())
    assert {"quality", "clusters", "speed", "machine", "date"} <= set(report)
    assert (output / "benchmark.md").read_text().startswith("# Benchmark")
    assert (output / "cluster_efficiency.png").stat().st_size > 1000
    assert (output / "injection_efficiency.png").stat().st_size > 1000
    notes = [line for line in stdout.splitlines() if "absent.keras" in line]
    assert len(notes) == 1 and "skipped" in notes[0]


def test_quick_report_scores_are_sane(quick_report):
    _, output, _ = quick_report
    report = json.loads((output / "benchmark.json").read_text())
    methods = report["quality"]["methods"]
    assert set(methods) == {"model m.keras", "threshold rule", "hysteresis rule", "photutils", "matched filter"}
    pixels = 2 * 3 * 256 * 256
    for scores in methods.values():
        assert sum(scores["all"][c]["support"] for c in CLASS_NAMES) == pixels
        for layout in ("mixed", "banded", "all"):
            for c in CLASS_NAMES:
                assert all(0.0 <= scores[layout][c][k] <= 1.0 for k in ("precision", "recall", "f1", "iou"))


def test_quick_report_cluster_counts_are_consistent(quick_report):
    _, output, _ = quick_report
    report = json.loads((output / "benchmark.json").read_text())
    clusters = report["clusters"]["methods"]
    true_counts = {s["true_clusters"] for s in clusters.values()}
    assert len(true_counts) == 1 and true_counts.pop() > 0
    for s in clusters.values():
        assert s["frames"] == 6
        assert 0 <= s["found"] <= s["true_clusters"] == sum(b["true"] for b in s["bins"])
        assert s["found"] == sum(b["found"] for b in s["bins"])
        assert 0 <= s["fake_clusters"] <= s["predicted_clusters"]
        assert s["fake_per_frame"] == pytest.approx(s["fake_clusters"] / s["frames"])
        assert 0.0 <= s["efficiency"] <= 1.0
        assert s["efficiency_90_adu"] is None or s["efficiency_90_adu"] > 0


def test_quick_report_speed_figures_are_numbers(quick_report):
    _, output, _ = quick_report
    speed = json.loads((output / "benchmark.json").read_text())["speed"]
    assert isinstance(speed["labelling_speedup"], float) and math.isfinite(speed["labelling_speedup"])
    assert speed["labelling"]["outputs_equal"] is True
    assert speed["simulation"]["frames_per_s"] > 0
    assert set(speed["training"]) == {"default"}
    assert all(t["s_per_step"] > 0 and t["s_per_1000_frames"] > 0 for t in speed["training"].values())
    default = speed["training"]["default"]  # the recipe's small crops timed apart, and its whole fit
    assert 0 < default["s_per_small_step"] and default["s_per_fit"] > default["s_per_epoch"] > 0
    assert "s a step of small crops" in (output / "benchmark.md").read_text()
    inference = speed["inference"]
    assert inference["frame_px"] == [512, 512]
    assert inference["pipeline_mp_per_s"] > 0 and inference["bare_mp_per_s"] > 0
    assert inference["peak_rss_mib"] > 0
    fits_run = inference["fits_pipeline"]
    assert fits_run["runtime"] in ("openvino", "keras") and fits_run["precision"] in ("float32", "bfloat16")
    assert fits_run["mp_per_s"] > 0 and fits_run["command_peak_rss_mib"] > 0 and fits_run["agreement"] >= 0.9


def test_quick_report_holds_held_out_populations_and_injection(quick_report):
    _, output, _ = quick_report
    report = json.loads((output / "benchmark.json").read_text())
    sets = report["quality"]["test_sets"]
    held_out = {name for name, s in sets.items() if s["held_out"]}
    assert held_out == {"other-clusters", "other-physics", "both"} and not sets["mixed"]["held_out"]
    assert set(report["quality"]["tuning"]) == {"hysteresis rule", "photutils", "matched filter"}
    for method, result in report["injection"].items():
        assert len(result["efficiency"]) == len(result["charges_adu"]) and result["fakes_per_frame"] >= 0
        assert all(lo <= e <= hi for lo, e, hi in zip(result["efficiency_low"], result["efficiency"],
                                                       result["efficiency_high"]))
    finders = [report["injection"][m]["efficiency"][-1] for m in ("photutils", "matched filter")]
    assert min(finders) > 0.9  # 3000 ADU deposits are found by any finder at its best
    markdown = (output / "benchmark.md").read_text()
    assert "other-physics (held out)" in markdown and "## Injection" in markdown


def test_quick_report_scores_the_methods_on_skipper_frames(quick_report):
    _, output, _ = quick_report
    report = json.loads((output / "benchmark.json").read_text())
    skipper = report["skipper"]
    assert skipper["frames"] == 2 and skipper["shape_px"] == [320, 640]
    assert {"reference reconstruction", "photutils"} <= set(skipper["methods"])
    for scores in skipper["methods"].values():
        assert 0.0 <= scores["line_found"] <= 1.0 and 0.0 <= scores["track_cluster"] <= 1.0
        assert scores["fakes_per_frame"] >= 0 and scores["fakes_per_frame_dark"] >= 0
        assert 0 <= scores["clusters_found"] <= scores["clusters_true"]
    assert "Skipper-CCD amplifier frames" in (output / "benchmark.md").read_text()
