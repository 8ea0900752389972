"""The benchmark's report (ccdseg/evaluate/report.py): Markdown tables and headline lines from a report's numbers."""
import numpy as np

from ccdseg.core.classes import CLUSTER
from ccdseg.core.scoring import score_labels
from ccdseg.evaluate.cluster_metrics import cluster_objects, cluster_summary, object_scores
from ccdseg.evaluate.report import headline, markdown_report, markdown_table


def injection_result(fakes_per_frame: float = 0.0) -> dict:
    return {"charges_adu": [200, 1500], "efficiency": [0.5, 1.0], "efficiency_low": [0.3, 0.9],
            "efficiency_high": [0.7, 1.0], "fakes_per_frame": fakes_per_frame, "injected": [18, 18],
            "sigma_px": [0.2, 1.2], "radius_px": 2.0, "blank_frames": 3}


def small_report() -> dict:
    """A report as `benchmark.run_benchmark` makes one, of one method on two tiny test sets, without inference."""
    rng = np.random.default_rng(0)
    truth = np.zeros((2, 32, 32), np.uint8)
    truth[:, 5:7, 5:7] = CLUSTER
    charge = np.where(truth == CLUSTER, 400.0, 0.0)
    images = (8800.0 + charge + rng.normal(0, 19, truth.shape)).astype(np.float32)
    prediction = truth.copy()
    prediction[0, 20, 20] = CLUSTER  # a fake
    scores = score_labels(prediction, truth)
    objects = object_scores(images, truth, charge, prediction)
    sets = {"mixed": {"frames": 1, "seed": 1, "held_out": False}, "both": {"frames": 1, "seed": 2, "held_out": True}}
    return {
        "quality": {"test_sets": sets, "methods": {"rule": {"mixed": scores, "both": scores, "all": scores}},
                    "objects": {"rule": {"mixed": objects, "both": objects}}, "seconds_per_frame": {"rule": 0.002}},
        "clusters": {"methods": {"rule": cluster_summary([cluster_objects(*a) for a in zip(images, truth, charge,
                                                                                             prediction)])}},
        "injection": {"rule": injection_result()},
        "speed": {"labelling": {"loop_s_per_frame": 0.5, "vectorised_s_per_frame": 0.001, "labelling_speedup": 500.0},
                  "simulation": {"frames_per_s": 20.0},
                  "training": {"default": {"s_per_step": 0.8, "s_per_epoch": 80.0, "s_per_1000_frames": 200.0,
                                           "batch": [16, 128, 128], "parameters": 1000}},
                  "inference": None, "inference_skipped": "no model to run"},
        "machine": {"description": "2-core CPU, no GPU", "cpu": "test CPU"},
        "date": "2026-01-01T00:00:00+00:00",
        "settings": {"frames_per_layout": 1, "quick": True},
        "notes": ["shipped model absent: its rows are skipped"],
    }


def test_injection_table_has_a_row_per_method():
    results = {"perfect": injection_result(), "other": injection_result(0.25)}
    table = markdown_table(results)
    lines = table.splitlines()
    assert len(lines) == 4 and "200 ADU" in lines[0] and "1500 ADU" in lines[0]
    assert lines[3].startswith("| other |") and lines[3].endswith("0.25 |")
    assert markdown_table({}) == ""


def test_report_holds_every_section_and_the_headline():
    report = small_report()
    markdown = markdown_report(report)
    assert markdown.startswith("# Benchmark\n\n2026-01-01T00:00:00+00:00, 2-core CPU, no GPU (test CPU), quick run.")
    for section in ("## Pixel scores (1 `mixed` simulated", "## Every test set", "| both (held out) |",
                    "## Injection", "## Clusters as objects", "## Speed", "| inference | no model to run |",
                    "## Headline", "- shipped model absent: its rows are skipped"):
        assert section in markdown, section
    lines = headline(report)
    assert len(lines) == 2 and lines[0].startswith("rule: cluster F1 ") and "0.50 at 200" not in lines[0]
    assert "fake clusters per frame" in lines[0] and lines[1] == "labelling speedup (get_mask vs per-pixel loop): 500 x"


def test_the_whole_ccd_file_gets_its_row_and_headline_line():
    report = small_report()
    report["speed"]["ccd_file"] = {"amplifiers": 4, "shape_px": [6144, 1536], "seconds": 20.0, "mp_per_s": 1.9,
                                   "model": "skipper.keras", "bare_mp_per_s": 2.5, "bare_tiles": 16,
                                   "bare_tile_px": 1024, "over_bare": 0.76, "target_over_bare": 1.3,
                                   "cpu_budget": {"run_cpu_s": 33.0, "network_cpu_s": 18.0, "network_s": 9.2,
                                                  "calibration_cpu_s": 7.0, "at_target_cpu_s": 23.2, "cores": 2}}
    markdown = markdown_report(report)
    assert "whole DAMIC-M CCD's file (4 amplifiers of 6144 x 1536 px" in markdown
    assert "| 1.90 MP/s (20.0 s; 0.76 x the bare Keras model `skipper.keras`" in markdown
    assert "target 1.3 x) |" in markdown
    assert ("| 33.0 s, of which the network as the command runs it 18.0 s (9.2 s wall) and the calibration 7.0 s;"
            " 1.3 x the bare model would leave 23.2 CPU s on this machine's 2 cores |") in markdown
    assert headline(report)[-1] == "a whole DAMIC-M CCD's file: 1.90 MP/s, 0.76 x the bare Keras model"


def skipper_scores() -> dict:
    """One method's figures on skipper frames, as `skipper_bench.measure_skipper` gives them."""
    return {"line_found": 1.0, "line_with_hot_pixel": 0.0, "line_kev": 5.9, "track_cluster": 0.98,
            "track_cluster_visible": 0.99, "track_glowing_or_hot": 0.01, "fakes_per_frame": 0.5,
            "fakes_per_frame_dark": 0.0, "glowing_f1": 0.97, "hot_pixel_f1": 0.96, "deposits_found": 90,
            "deposits": 93, "seconds_per_frame": 0.3}


def test_skipper_frames_beyond_the_trained_range_get_their_table():
    from ccdseg.evaluate.report import skipper_section

    scores = skipper_scores()
    skipper = {"frames": 2, "dark_frames": 1, "shape_px": [320, 640], "dark_current_electrons": 2.0,
               "methods": {"shipped models": scores},
               "beyond_range": {"frames": 20, "cases": {"dark current 0.001 e/px": {
                   "recognised": 19, "methods": {"shipped models": scores}}}}}
    lines = skipper_section(skipper)
    row = "| dark current 0.001 e/px | 19 of 20 | shipped models | 1.0000 | 0.0000 | 0.9800 | 0.0100 | 0.50 | 0.970 | 0.960 |"
    assert row in lines and any(line.startswith("Beyond the range the skipper model was trained on (20 frames") for line in lines)
    del skipper["beyond_range"]
    assert not any("Beyond the range" in line for line in skipper_section(skipper))


def test_skipper_methods_judged_against_the_reconstruction_get_their_table():
    from ccdseg.evaluate.report import skipper_section

    scores = skipper_scores()
    skipper = {"frames": 2, "dark_frames": 1, "shape_px": [320, 640], "dark_current_electrons": 2.0,
               "methods": {"photutils": dict(scores)}}
    assert not any("Judged as a real frame is" in line for line in skipper_section(skipper))
    skipper["methods"]["shipped models"] = dict(scores, against_reconstruction={
        "reconstruction_clusters": 150, "any_pixel_cluster": 0.998, "most_pixels_cluster": 0.996,
        "pixels_cluster": 0.982, "pixels_glowing_or_hot": 0.0001, "untouched_per_frame": 2.5,
        "untouched_on_deposit_per_frame": 2.48})
    lines = skipper_section(skipper)
    assert any(line.startswith("Judged as a real frame is, against the experiment's reconstruction") for line in lines)
    assert "| shipped models | 0.9980 | 0.9960 | 0.9820 | 0.0001 | 2.50 | 2.48 |" in lines
    assert not any(line.startswith("| photutils | 0.99") for line in lines)
