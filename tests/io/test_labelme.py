"""labelme polygon files <-> class maps (ccdseg/io/labelme.py)."""
import json

import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.io import labelme


def test_labelme_round_trip(tmp_path):
    class_map = np.zeros((40, 50), np.uint8)
    class_map[:, 0:12] = 1
    class_map[20, 15:35] = 2
    class_map[5:11, 30:37] = 3
    class_map[25:31, 40:44] = 3
    path = tmp_path / "frame.json"
    path.write_text(json.dumps(labelme.class_map_to_labelme(class_map)))
    assert np.array_equal(labelme.labelme_to_class_map(path), class_map)


def test_labelme_unknown_label_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"imageHeight": 5, "imageWidth": 5, "shapes": [{"label": "dragon", "points": [[1, 1]], "shape_type": "point"}]}))
    with pytest.raises(UserInputError, match="bad.json"):
        labelme.labelme_to_class_map(path)
