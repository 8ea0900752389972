"""Class bookkeeping (ccdseg/core/classes.py): priority, one-hot, colours, counts; a fifth class in classes.py alone."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ccdseg.core import classes
from ccdseg.core.errors import UserInputError

ROOT = Path(__file__).resolve().parents[2]


def test_priority_rank_orders_hot_pixel_over_cluster_over_glowing():
    rank = classes.priority_rank()
    assert rank[classes.HOT_PIXEL] > rank[classes.CLUSTER] > rank[classes.GLOWING] > rank[classes.BACKGROUND]
    assert sorted(classes.PRIORITY) == list(classes.CLASS_IDS)


def test_one_hot_and_back():
    ids = np.array([[0, 3], [2, 1]], np.uint8)
    one_hot = classes.to_one_hot(ids)
    assert one_hot.shape == (2, 2, classes.N_CLASSES) and np.array_equal(classes.as_ids(one_hot), ids)
    with pytest.raises(UserInputError):
        classes.class_id("cosmic ray")


def test_mask_is_one_hot_and_argmax_inverts_it():
    ids = np.random.default_rng(0).integers(0, 4, (3, 8, 9)).astype(np.uint8)
    one_hot = classes.to_one_hot(ids)
    assert one_hot.shape == (3, 8, 9, 4) and np.all(one_hot.sum(-1) == 1)
    assert np.array_equal(classes.get_max_in_mask(one_hot), ids)


def test_colours_and_names():
    ids = np.array([[0, 1], [2, 3]], np.uint8)
    rgb = classes.mask_to_label(ids)
    assert np.allclose(rgb[1, 1], (1.0, 0.2, 0.2)) and np.allclose(rgb[0, 1], (0.35, 1.0, 0.25))
    assert classes.class_id("hot_pixel") == classes.HOT_PIXEL and classes.class_id("Cluster") == classes.CLUSTER
    with pytest.raises(UserInputError):
        classes.class_id("muon")


def test_statistics_and_percentages():
    ids = np.array([0, 0, 0, 1, 3, 3, 3, 3], np.uint8)
    assert classes.statistics(ids).tolist() == [3, 1, 0, 4]
    assert classes.get_percentages(ids).tolist() == [37.5, 12.5, 0.0, 50.0]
    probabilities = classes.to_one_hot(ids) * 0.7 + 0.075
    assert classes.get_percentages(probabilities).tolist() == [37.5, 12.5, 0.0, 50.0]


FIFTH_CLASS = {
    "BACKGROUND, GLOWING, HOT_PIXEL, CLUSTER = 0, 1, 2, 3": "BACKGROUND, GLOWING, HOT_PIXEL, CLUSTER, SERIAL = 0, 1, 2, 3, 4",
    "CLASS_IDS = (BACKGROUND, GLOWING, HOT_PIXEL, CLUSTER)": "CLASS_IDS = (BACKGROUND, GLOWING, HOT_PIXEL, CLUSTER, SERIAL)",
    'CLASS_NAMES = ("background", "glowing", "hot pixel", "cluster")':
        'CLASS_NAMES = ("background", "glowing", "hot pixel", "cluster", "serial register")',
    "(1.0, 0.2, 0.2)],": "(1.0, 0.2, 0.2), (1.0, 0.8, 0.0)],",
    "PRIORITY = (BACKGROUND, GLOWING, CLUSTER, HOT_PIXEL)": "PRIORITY = (BACKGROUND, GLOWING, SERIAL, CLUSTER, HOT_PIXEL)",
}

FIVE_CLASS_RUN = """
import numpy as np
from ccdseg.core import classes, scoring
from ccdseg.infer import segmenter
from ccdseg.model import unet
from ccdseg.plots import labels as figures
assert classes.N_CLASSES == 5
model = unet.unet(depth=2, base_filters=4, dropout=0.0, reg=0.0, optimizer="adam")
seg = segmenter.Segmenter(model, {"depth": 2})
frames = np.random.default_rng(0).normal(8800.0, 19.0, (2, 40, 52)).astype(np.float32)
assert seg.predict(frames).shape == (2, 40, 52, 5)
ids = seg.segment(frames[0], tile_px=32, margin_px=4)
assert ids.shape == (40, 52) and ids.max() < 5
truth = np.zeros((40, 52), np.uint8)
truth[:, 10] = 4
figures.visualize_label(frames[0], truth, ids, path="five.png", show=False)
assert figures.reduce_for_display(truth, 4, labels=True).max() == 4
assert "serial register" in scoring.score_labels(ids, truth)
print("five classes ok")
"""


def test_a_fifth_class_needs_only_classes_py(tmp_path):
    """The CONTRIBUTING recipe: edit classes.py, and the model, prediction, scores and figures follow."""
    shutil.copytree(ROOT / "ccdseg", tmp_path / "ccdseg", ignore=shutil.ignore_patterns("__pycache__"))
    classes_py = tmp_path / "ccdseg" / "core" / "classes.py"
    text = classes_py.read_text()
    for old, new in FIFTH_CLASS.items():
        assert old in text, f"classes.py no longer holds {old!r}: update CONTRIBUTING's recipe and this test"
        text = text.replace(old, new)
    classes_py.write_text(text)
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, "-c", FIVE_CLASS_RUN], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "five classes ok" in result.stdout and (tmp_path / "five.png").stat().st_size > 1000
