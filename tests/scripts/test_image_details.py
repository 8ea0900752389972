"""image_details.py: Cluster.pkl rewritten from a seed on the command line, and the charge histogram of a frame."""
import numpy as np

import image_details as details
from ccdseg.simulate.frame import simulate_frame


def test_library_cli_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "lib.pkl"
    assert details.main(["--count", "5", "--output", str(out)]) == 0
    before = out.read_bytes()
    assert details.main(["--count", "5", "--seed", "9", "--output", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_charge_distribution_plot_is_saved(tmp_path, library):
    frame = simulate_frame(np.random.default_rng(8), library=library)
    path = tmp_path / "charge.png"
    details.plot_charge_distribution(frame, path, show=False)
    assert path.stat().st_size > 1000
