"""The cluster stamps of Cluster.pkl (ccdseg/simulate/cluster_library.py): physics, statistics, safe loading."""
import os
import pickle

import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.simulate import cluster_library


def test_bright_part_of_the_library_matches_the_original_library():
    bright = cluster_library.make_cluster_library(803, 0, cluster_library.BRIGHT_MIXTURE)
    stats = cluster_library.library_statistics(bright)
    assert 8 <= stats["median_height_px"] <= 14 and 8 <= stats["median_width_px"] <= 14
    assert 60 <= stats["median_nonzero_px"] <= 100
    assert 33 <= stats["median_charge_units"] <= 50
    assert 0.40 <= stats["fraction_nonzero_below_0p1"] <= 0.55
    assert 2.5 <= stats["median_peak_units"] <= 5.0


def test_library_spans_the_noise_floor_to_muon_tracks(library):
    adu = 200.0  # per charge unit at the default physics; one noise sigma is about 19 ADU
    charge_adu = np.array([s.sum() for s in library]) * adu
    pixels_above_sigma = np.array([np.count_nonzero(s * adu >= 19.0) for s in library])
    assert len(library) == cluster_library.LIBRARY_SIZE
    assert np.percentile(charge_adu, 5) < 150 and charge_adu.max() > 20000
    assert np.mean(charge_adu < 1000) > 0.25
    assert np.mean((pixels_above_sigma >= 1) & (pixels_above_sigma <= 6)) > 0.15
    assert any(s.shape == (1, 1) for s in library)


def test_library_is_regenerated_identically_from_its_seed(library):
    fresh = cluster_library.make_cluster_library(cluster_library.LIBRARY_SIZE, cluster_library.LIBRARY_SEED)
    assert len(fresh) == len(library)
    assert all(np.array_equal(a, b) for a, b in zip(fresh, library))


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.target = marker
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([np.ones((2, 2)), exploit]))
    with pytest.raises(UserInputError, match="evil.pkl"):
        cluster_library.load_cluster_library(path)
    assert not marker.exists()


def test_library_of_wrong_content_is_refused(tmp_path):
    path = tmp_path / "ints.pkl"
    path.write_bytes(pickle.dumps([np.ones((3,), np.float32)]))
    with pytest.raises(UserInputError, match="2-D float"):
        cluster_library.load_cluster_library(path)
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UserInputError):
        cluster_library.load_cluster_library(path)
