"""The sections of a frame that hold a class (ccdseg/infer/object_search.py, `load_model.py --find`)."""
import numpy as np

from ccdseg.core.classes import CLUSTER
from ccdseg.infer import object_search
from tests.fits_files import frame


def test_check_one_object_lists_sections_in_frame_coordinates(tmp_path):
    image = frame((300, 520))
    class_map = np.zeros((300, 520), np.uint8)
    class_map[10:14, 20:23] = CLUSTER
    class_map[280:290, 515:520] = CLUSTER
    found = object_search.check_one_object(image, class_map, "cluster", output=tmp_path, stem="f", max_figures=1, show=False)
    assert found == [
        {"rows": (0, 256), "columns": (0, 256), "pixels": 12},
        {"rows": (256, 300), "columns": (512, 520), "pixels": 50},
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["f_cluster_r00000_c00000.png"]
    assert "rows 256:300, columns 512:520: 50 px of cluster" in object_search.format_sections(found, CLUSTER)
    assert object_search.check_one_object(image, class_map, "hot pixel", show=False) == []
