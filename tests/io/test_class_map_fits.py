"""Class maps out as FITS (ccdseg/io/class_map_fits.py): the input's HDUs and EXTNAMEs, headers, layout read back."""
import numpy as np
import pytest
from astropy.io import fits

from ccdseg.core.classes import CLASS_NAMES, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.io import class_map_fits
from ccdseg.io import fits as fits_io
from tests.fits_files import frame


def test_segmentation_fits_carries_header_and_legend(tmp_path):
    data = frame((40, 70))
    data[0, 0] = np.nan
    hdu = fits.ImageHDU(data, name="SCI")
    hdu.header["OBSERVER"] = ("DAMIC", "who took it")
    hdu.header["DATASEC"] = "[11:60,1:40]"
    source = tmp_path / "source.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(source)
    read = fits_io.read_fits_frame(source, region="DATASEC")
    classes = np.zeros(read.data.shape, np.uint8)
    classes[:, :5] = HOT_PIXEL
    target = tmp_path / "out" / "source_segmentation.fits"
    class_map_fits.write_segmentation_fits(target, read, classes, {"SEGMODEL": ("m.keras", "model file")})
    with fits.open(target) as written:
        header, class_map = written[0].header, written[0].data
        assert class_map.dtype == np.uint8 and class_map.shape == (40, 70)
        assert np.array_equal(class_map[:, 10:60], classes) and not class_map[:, :10].any()
        assert header["OBSERVER"] == "DAMIC" and header.comments["OBSERVER"] == "who took it"
        assert [header[f"CLASS{c}"] for c in range(4)] == list(CLASS_NAMES)
        assert header["SEGNMASK"] == 0 and header["SEGREGN"] == "[11:60,1:40]"
        assert header["SEGPCT2"] == pytest.approx(10.0) and header["SEGMODEL"] == "m.keras"
        assert "BZERO" not in header and "BLANK" not in header and written[0].verify_checksum() == 1
    with pytest.raises(UserInputError, match="exists"):
        class_map_fits.write_segmentation_fits(target, read, classes)
    class_map_fits.write_segmentation_fits(target, read, classes, force=True)


def test_one_file_keeps_the_inputs_hdus_extnames_and_header_only_primary(tmp_path):
    primary = fits.PrimaryHDU()
    primary.header["NROW"] = (40, "rows read")
    amps = [fits.CompImageHDU(frame((40, 70), k), name=name) for k, name in enumerate(("CCD_A", "CCD_B"))]
    amps.append(fits.ImageHDU(frame((24, 30), 3), name="CCD_D"))
    fits.HDUList([primary, *amps]).writeto(tmp_path / "amps.fits")
    header, images, _ = fits_io.image_hdus(tmp_path / "amps.fits")
    written = []
    for image in images:
        read = fits_io.read_fits_frame(tmp_path / "amps.fits", image.index)
        classes = np.full(read.data.shape, image.index, np.uint8)
        class_map, class_header = class_map_fits.hdu_class_map([read], [classes], [{}], None)
        written.append((image.index, image.name, class_map, class_header))
    path = class_map_fits.write_class_map_file(tmp_path / "amps_segmentation.fits", header, written,
                                               {"SEGKEY": ("0123", "key")})
    with fits.open(path) as hdus:
        assert [h.name for h in hdus] == ["PRIMARY", "CCD_A", "CCD_B", "CCD_D"] and hdus[0].data is None
        assert hdus[0].header["NROW"] == 40 and hdus[0].header["SEGKEY"] == "0123"
        assert [h.data.shape for h in hdus[1:]] == [(40, 70), (40, 70), (24, 30)]
        assert [int(h.data[0, 0]) for h in hdus[1:]] == [1, 2, 3] and hdus[2].header["SEGHDU"] == 2
    primary_header, shapes = class_map_fits.read_class_map_layout(path)
    assert primary_header["SEGKEY"] == "0123" and shapes == {"CCD_A": (40, 70), "CCD_B": (40, 70), "CCD_D": (24, 30)}


def test_a_cube_stays_a_cube_of_class_maps(tmp_path):
    fits.PrimaryHDU(np.stack([frame((20, 30), seed) for seed in range(3)])).writeto(tmp_path / "cube.fits")
    planes = [fits_io.read_fits_frame(tmp_path / "cube.fits", plane=k) for k in range(3)]
    class_map, header = class_map_fits.hdu_class_map(
        planes, [np.full((20, 30), k, np.uint8) for k in range(3)], [{"SEGMODEL": (f"m{k}", "")} for k in range(3)], 3)
    assert class_map.shape == (3, 20, 30) and [int(p[0, 0]) for p in class_map] == [0, 1, 2]
    assert "SEGPLANE" not in header and sum("plane 2:" in line and "m2" in line for line in header["HISTORY"]) == 1


def test_a_truncated_class_map_file_is_found_from_its_headers(tmp_path):
    image = fits.ImageHDU(np.zeros((64, 64), np.uint8), name="A")
    fits.HDUList([fits.PrimaryHDU(), image]).writeto(tmp_path / "a.fits")
    whole = (tmp_path / "a.fits").read_bytes()
    (tmp_path / "a.fits").write_bytes(whole[: len(whole) - 2000])
    with pytest.raises(UserInputError, match="truncated"):
        class_map_fits.read_class_map_layout(tmp_path / "a.fits")


def test_comments_are_cut_to_the_room_their_value_leaves_and_nothing_warns(tmp_path):
    import warnings

    header = fits.Header()
    why = "single electrons resolved (noise 0.17 e): a skipper frame"
    header["SEGWHY"] = (why, "why this model (model_choice.py)")
    header["SEGTILE"] = (1024, "largest tile given to the model, px")
    header["SEGOPTS"] = ("x" * 300, "models and options, JSON")  # CONTINUE cards hold any comment
    class_map_fits.fit_comments(header)
    assert header["SEGWHY"] == why and header.comments["SEGTILE"] == "largest tile given to the model, px"
    assert len(f"SEGWHY  = '{why}' / {header.comments['SEGWHY']}") <= 80
    assert header.comments["SEGOPTS"] == "models and options, JSON"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fits.PrimaryHDU(np.zeros((2, 2)), header=header).writeto(tmp_path / "h.fits")
    assert fits.getheader(tmp_path / "h.fits")["SEGWHY"] == why
