"""Where the repository's files are (ccdseg/core/paths.py): beside the package, or the current folder when installed."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ccdseg.core import paths

ROOT = Path(__file__).resolve().parents[2]


def test_paths_of_a_checkout_are_in_the_repository():
    assert paths.REPO == ROOT
    assert paths.DEFAULT_MODEL == ROOT / "Models" / "default.keras" and paths.DEFAULT_MODEL.is_file()
    assert paths.CLUSTER_LIBRARY == ROOT / "Cluster.pkl" and paths.CLUSTER_LIBRARY.is_file()
    images = ROOT / "Images"
    assert (paths.TRAIN_IMAGES, paths.TEST_IMAGES, paths.OUTPUTS) == (images / "Train", images / "Test", images / "Outputs")
    assert paths.BENCHMARK_OUTPUT == ROOT / "benchmark_output"


def test_an_installed_package_takes_the_current_folder_as_the_repository(tmp_path):
    site, work = tmp_path / "site", tmp_path / "work"
    (site / "ccdseg" / "core").mkdir(parents=True)
    work.mkdir()
    for name in ("__init__.py", "core/__init__.py", "core/paths.py"):
        shutil.copy(ROOT / "ccdseg" / name, site / "ccdseg" / name)
    code = "from ccdseg.core import paths; print(paths.REPO, paths.DEFAULT_MODEL)"
    result = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=str(site)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(work.resolve()), str(work.resolve() / "Models" / "default.keras")]
