"""Where the repository's files live: the one definition of every path the code uses by default.

The package sits in the repository (`REPO/ccdseg`), next to `Models/`,
`Images/` and `Cluster.pkl`. When `ccdseg` is installed elsewhere (`pip
install .`), the repository is the current folder.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
REPO = _PACKAGE_PARENT if (_PACKAGE_PARENT / "Models").is_dir() else Path.cwd()
MODELS = REPO / "Models"
IMAGES = REPO / "Images"
TRAIN_IMAGES = IMAGES / "Train"
TEST_IMAGES = IMAGES / "Test"
OUTPUTS = IMAGES / "Outputs"
DEFAULT_MODEL = MODELS / "default.keras"
CLUSTER_LIBRARY = REPO / "Cluster.pkl"
BENCHMARK_OUTPUT = REPO / "benchmark_output"
