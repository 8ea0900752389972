"""Test setup: the repository root on sys.path, no display, quiet TensorFlow; fixtures several test files share."""
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def library():
    """The cluster library `Cluster.pkl`, loaded once."""
    from ccdseg.simulate import cluster_library

    return cluster_library.load_cluster_library()


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """A tiny U-Net (depth 2), fitted one epoch on a few simulated 64 x 64 frames, saved with its card."""
    from ccdseg.model import normalisation, unet
    from ccdseg.model.card import card_path
    from ccdseg.simulate.datasets import simulate_dataset

    images, truth = simulate_dataset(8, 0, size=(64, 64), progress=False)
    model = unet.unet(depth=2, base_filters=4, dropout=0.0, reg=0.0, optimizer="adam")
    model.fit(normalisation.normalise_frames(images), np.eye(4, dtype=np.float32)[truth], epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("model") / "m.keras"
    model.save(path)
    card_path(path).write_text(json.dumps({"depth": 2}))
    return path
