"""models.py: the U-Net and its loss under the original's names, and a preset described from the command line."""
import pytest

import models
from ccdseg.model import loss, unet


def test_the_original_names_are_importable_from_the_script():
    from models import unet as original_unet
    from models import weighted_categorical_crossentropy

    assert original_unet is unet.unet and weighted_categorical_crossentropy is loss.weighted_categorical_crossentropy
    assert models.build_preset is unet.build_preset


def test_a_preset_is_described_with_its_size(capsys):
    assert models.main(["--preset", "default", "--channels", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("preset default: depth 3, base_filters 16")
    assert lines[1].endswith("input (h, w, 1)") and lines[2].endswith("floating-point operations per pixel")
    model = unet.build_preset("default", channels=1)
    assert f"{model.count_params():,} parameters" in lines[1]
    assert models.flops_per_pixel(model) == pytest.approx(float(lines[2].split()[0].replace(",", "")), abs=1)


def test_an_unknown_preset_is_a_one_line_error(capsys):
    assert models.main(["--preset", "huge"]) == 1
    assert capsys.readouterr().err == "error: --preset must be one of original, default, not 'huge'\n"
