"""The catalogue in physical units (ccdseg/infer/catalogue.py): electrons and keV when the gain is known, per-row background."""
import numpy as np
import pytest

from ccdseg.core.classes import CLUSTER
from ccdseg.core.errors import UserInputError
from ccdseg.infer.catalogue import cluster_catalogue
from ccdseg.measure.background import frame_background
from ccdseg.plots.results import plot_summary
from ccdseg.simulate.skipper import simulate_skipper_frame
from dataclasses import replace
from ccdseg.simulate.detector import DAMIC_M


def test_energy_follows_the_gain_and_a_per_row_background_is_subtracted_row_by_row():
    image = np.zeros((6, 8), np.float32)
    image += np.arange(6, dtype=np.float32)[:, None]  # a background rising by 1 ADU a row
    image[2:4, 2:4] += 130.0  # 100 electrons at 1.3 ADU per electron, 4 pixels
    classes = np.zeros(image.shape, np.uint8)
    classes[2:4, 2:4] = CLUSTER
    cat = cluster_catalogue(image, classes, pedestal_adu=np.arange(6, dtype=np.float64), gain_adu_per_electron=1.3)
    assert cat["charge_adu"][0] == pytest.approx(520.0) and cat["charge_electrons"][0] == pytest.approx(400.0)
    assert cat["energy_kev"][0] == pytest.approx(400 * 3.75e-3)
    unknown = cluster_catalogue(image, classes, pedestal_adu=0.0)
    assert np.isnan(unknown["energy_kev"][0]) and np.isnan(unknown["charge_electrons"][0])
    with pytest.raises(UserInputError, match="gain must be positive"):
        cluster_catalogue(image, classes, pedestal_adu=0.0, gain_adu_per_electron=0.0)


def test_the_5_9_kev_line_stands_where_it_should_on_a_simulated_frame(tmp_path):
    detector = replace(DAMIC_M, deposit_mixture={"x-ray": 1.0}, clusters_per_frame=200.0)
    frame = simulate_skipper_frame(np.random.default_rng(4), detector, (320, 640))
    background = frame_background(frame.image)
    cat = cluster_catalogue(frame.image, frame.truth, pedestal_adu=background.level_adu,
                            gain_adu_per_electron=background.gain_adu_per_electron)
    compact = cat["energy_kev"][(cat["n_pixels"] < 60) & ~cat["touches_edge"]]
    line = compact[np.abs(compact - 5.9) < 0.4]
    assert line.size > 50 and np.median(line) == pytest.approx(5.9, rel=0.02)
    path = plot_summary(cat["charge_adu"], cat["n_pixels"], tmp_path / "spectrum.png", cat["energy_kev"])
    assert path.stat().st_size > 10_000
