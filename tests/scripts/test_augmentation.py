"""augmentation.py: the example figure from the command line, and the augmentation importable under its name."""
import augmentation
from ccdseg.model import augment


def test_the_augmentation_is_importable_from_the_script():
    assert augmentation.augment is augment.augment and augmentation.make_augmenter is augment.make_augmenter
    assert augmentation.add_augmented_copies is augment.add_augmented_copies


def test_main_writes_the_example_figure(tmp_path, capsys):
    output = tmp_path / "figures" / "augmentation_example.png"
    assert augmentation.main(["--count", "1", "--output", str(output), "--no-show"]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


def test_main_refuses_to_overwrite_without_force(tmp_path, capsys):
    output = tmp_path / "augmentation_example.png"
    output.write_bytes(b"keep me")
    assert augmentation.main(["--count", "1", "--output", str(output), "--no-show"]) == 1
    assert "--force" in capsys.readouterr().err
    assert output.read_bytes() == b"keep me"
    assert augmentation.main(["--count", "1", "--output", str(output), "--no-show", "--force"]) == 0
    assert output.read_bytes() != b"keep me"
