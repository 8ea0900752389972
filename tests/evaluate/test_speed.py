"""The benchmark's timings (ccdseg/evaluate/speed.py): the original-style loop, labelling, simulation, memory."""
import numpy as np

from ccdseg.evaluate import speed
from ccdseg.simulate.datasets import simulate_frames
from ccdseg.simulate.thresholds import get_mask


def test_per_pixel_loop_equals_get_mask():
    images, _, _ = simulate_frames(1, 3, "banded", progress=False)  # seed 3 has glowing columns
    looped = speed.get_mask_per_pixel(images)
    assert np.array_equal(looped, get_mask(images))
    assert np.all(looped.reshape(-1, 4).sum(axis=0) > 0)


def test_labelling_and_simulation_are_timed():
    labelling = speed.measure_labelling(1)
    assert labelling["outputs_equal"] is True and labelling["labelling_speedup"] > 1
    assert labelling["loop_s_per_frame"] > labelling["vectorised_s_per_frame"] > 0
    simulation = speed.measure_simulation(2)
    assert simulation["frames"] == 2 and simulation["size_px"] == 256 and simulation["frames_per_s"] > 0


def test_peak_memory_of_a_call_counts_what_it_holds():
    held = []
    seconds, before_mib, peak_mib, how = speed.peak_rss_during(lambda: held.append(np.ones(64 * 2**20 // 8)))
    assert seconds >= 0 and before_mib > 0 and how
    assert peak_mib >= before_mib + 60


def test_a_whole_ccd_file_is_timed_against_the_bare_model(tiny_model_path):
    from ccdseg.evaluate.speed_commands import measure_ccd_file
    from ccdseg.infer.model_choice import ModelChoice

    result = measure_ccd_file(ModelChoice.load(tiny_model_path), (256, 128), max_tiles=2)
    assert result["amplifiers"] == 4 and result["shape_px"] == [256, 128]
    assert result["seconds"] > 0 and result["bare_mp_per_s"] > 0 and result["bare_tiles"] == 2
    assert abs(result["mp_per_s"] - 4 * 256 * 128 / result["seconds"] / 1e6) < 1e-9
    assert abs(result["over_bare"] - result["mp_per_s"] / result["bare_mp_per_s"]) < 1e-9
    budget = result["cpu_budget"]
    assert budget["cores"] >= 1 and budget["network_s"] > 0
    assert 0 < budget["network_cpu_s"] < budget["run_cpu_s"] and 0 < budget["calibration_cpu_s"] < budget["run_cpu_s"]
    pixels_at_target = budget["at_target_cpu_s"] / budget["cores"] * result["target_over_bare"] * result["bare_mp_per_s"]
    assert abs(pixels_at_target - 4 * 256 * 128 / 1e6) < 1e-9
