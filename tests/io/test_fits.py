"""FITS detector frames in, segmentation FITS out (ccdseg/io/fits.py): HDUs, planes, regions, scaling, bad files."""
import numpy as np
import pytest
from astropy.io import fits

from ccdseg.core.errors import UserInputError
from ccdseg.io import fits as fits_io
from tests.fits_files import BAD_KINDS, frame, write_bad_file


def assert_one_line_naming(exc_info, path):
    message = str(exc_info.value)
    assert message.startswith(str(path)) and "\n" not in message


# %% Reading FITS
def test_float_frame_with_nan_and_inf_is_masked_and_counted(tmp_path):
    data = frame((40, 70))
    data[3, 4], data[10, 11], data[20, 30] = np.nan, np.inf, -np.inf
    path = tmp_path / "float.fits"
    fits.PrimaryHDU(data).writeto(path)
    read = fits_io.read_fits_frame(path)
    assert read.data.dtype == np.float32 and read.data.shape == (40, 70)
    assert read.n_masked == 3 and np.isnan(read.data[read.masked]).all()
    assert np.array_equal(read.data[~read.masked], data[np.isfinite(data)])


def test_integer_frame_with_bzero_bscale_and_blank(tmp_path):
    adu = np.random.default_rng(1).integers(8000, 60000, (30, 50)).astype(np.uint16)
    path = tmp_path / "uint16.fits"
    fits.PrimaryHDU(adu).writeto(path)
    assert fits.getheader(path)["BZERO"] == 32768
    assert np.array_equal(fits_io.read_fits_frame(path).data, adu.astype(np.float32))

    stored = np.random.default_rng(2).integers(-3000, 3000, (30, 50)).astype(np.int16)
    stored[0, :5] = -32768
    hdu = fits.ImageHDU(stored, name="SCI")
    hdu.header.update(BZERO=10000.0, BSCALE=2.0, BLANK=-32768)
    path = tmp_path / "scaled.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    read = fits_io.read_fits_frame(path)
    assert read.hdu_index == 1 and read.hdu_name == "SCI" and read.n_masked == 5
    good = stored != -32768
    assert np.array_equal(read.data[good], stored[good] * 2.0 + 10000.0)


def test_hdu_by_default_index_and_name(tmp_path):
    table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.arange(3.0))])
    first, second = fits.ImageHDU(frame((20, 30)), name="AMP1"), fits.ImageHDU(frame((24, 30), 1), name="AMP2")
    path = tmp_path / "amps.fits"
    fits.HDUList([fits.PrimaryHDU(), table, first, second]).writeto(path)
    assert fits_io.read_fits_frame(path).hdu_name == "AMP1"
    assert fits_io.read_fits_frame(path, hdu="amp2").data.shape == (24, 30)
    assert fits_io.read_fits_frame(path, hdu=3).hdu_name == "AMP2"
    for bad in (1, 7, "AMP9"):
        with pytest.raises(UserInputError) as info:
            fits_io.read_fits_frame(path, hdu=bad)
        assert_one_line_naming(info, path)


@pytest.mark.parametrize("compressed", [False, True])
def test_cube_planes(tmp_path, compressed):
    cube = np.round(np.stack([frame((20, 30), seed) for seed in range(3)])).astype(np.int32)
    path = tmp_path / "cube.fits"
    image = fits.CompImageHDU(cube) if compressed else fits.ImageHDU(cube)
    fits.HDUList([fits.PrimaryHDU(), image]).writeto(path)
    assert fits_io.fits_planes(path) == [0, 1, 2]
    assert np.array_equal(fits_io.read_fits_frame(path, plane=1).data, cube[1])
    assert np.array_equal(fits_io.read_fits_frame(path, plane=2, region="[5:20,3:19]").data, cube[2, 2:19, 4:20])
    for plane in (None, 3):
        with pytest.raises(UserInputError, match="plane"):
            fits_io.read_fits_frame(path, plane=plane)


def test_region_trims_overscan(tmp_path):
    data = frame((40, 70))
    hdu = fits.PrimaryHDU(data)
    hdu.header["DATASEC"] = "[11:60,5:40]"
    path = tmp_path / "overscan.fits"
    hdu.writeto(path)
    read = fits_io.read_fits_frame(path, region="DATASEC")
    assert read.region == (4, 40, 10, 60) and np.array_equal(read.data, data[4:40, 10:60])
    assert read.region_text == "[11:60,5:40]" and read.image_shape == (40, 70)
    assert fits_io.read_fits_frame(path, region="[*,1:20]").data.shape == (20, 70)
    for bad in ("[0:10,1:20]", "[1:80,1:20]", "rows 1 to 5", "TRIMSEC"):
        with pytest.raises(UserInputError):
            fits_io.read_fits_frame(path, region=bad)


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, kind):
    path = write_bad_file(tmp_path, kind)
    with pytest.raises(UserInputError) as info:
        fits_io.read_fits_frame(path)
    assert_one_line_naming(info, path)


# %% Values no ADC can give (issue 20, defect 9)
def test_values_beyond_the_stated_adc_range_are_masked_and_counted(tmp_path):
    data = frame((40, 70))
    data[3, 4], data[10, 11], data[20, 30] = 1e30, 7e4, -5e3
    hdu = fits.PrimaryHDU(data)
    hdu.header["DATAMIN"], hdu.header["SATURATE"] = -1000.0, 65535.0
    hdu.writeto(tmp_path / "f.fits")
    read = fits_io.read_fits_frame(tmp_path / "f.fits")
    assert read.n_beyond_range == 3 and read.n_masked == 3 and np.isnan(read.data[[3, 10, 20], [4, 11, 30]]).all()
    assert read.adc_range_adu == (-1000.0, 65535.0, "DATAMIN, SATURATE")
    cut = fits_io.read_fits_frame(tmp_path / "f.fits", max_adu=8850.0)
    assert cut.n_beyond_range == np.count_nonzero((data > 8850.0) | (data < -1000.0))
    assert "--max-adu" in cut.adc_range_adu[2]


def test_float_values_no_adc_gives_are_masked_without_any_keyword(tmp_path):
    data = frame((40, 70))
    data[5, 5] = 1e30
    fits.PrimaryHDU(data).writeto(tmp_path / "f.fits")
    read = fits_io.read_fits_frame(tmp_path / "f.fits")
    assert read.n_beyond_range == 1 and np.isnan(read.data[5, 5]) and "2^32" in read.adc_range_adu[2]


# %% The image HDUs of a file (issue 19, items 1 and 8)
def test_every_image_hdu_is_listed_and_other_hdus_are_named(tmp_path):
    table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.arange(3.0))], name="EVENTS")
    primary = fits.PrimaryHDU()
    primary.header["NROW"] = 40
    hdus = [primary, fits.CompImageHDU(frame((40, 70)), name="CCD_A"), fits.ImageHDU(frame((24, 30), 1), name="CCD_B"),
            table, fits.ImageHDU(np.arange(5.0), name="LINE")]
    fits.HDUList(hdus).writeto(tmp_path / "amps.fits")
    header, images, notes = fits_io.image_hdus(tmp_path / "amps.fits")
    assert header["NROW"] == 40
    assert [(i.index, i.name, i.shape) for i in images] == [(1, "CCD_A", (40, 70)), (2, "CCD_B", (24, 30))]
    assert notes == ["HDU 3 (EVENTS) is a table: skipped", "HDU 4 (LINE) is a 1-D image: skipped"]
    assert [i.name for i in fits_io.image_hdus(tmp_path / "amps.fits", "ccd_b")[1]] == ["CCD_B"]
    with pytest.raises(UserInputError, match="HDU 3 holds no 2-D image"):
        fits_io.image_hdus(tmp_path / "amps.fits", 3)


def test_a_frame_region_is_checked_from_the_header_alone(tmp_path):
    header = fits.Header({"DATASEC": "[1:20,1:30]"})
    assert fits_io.frame_region("f.fits", 1, "CCD_A", (40, 70), header, None, "DATASEC") == (0, 30, 0, 20)
    for plane, region, message in ((None, "[1:80,1:5]", "HDU 1 \\(CCD_A\\).*not within"), (2, None, "no plane 2"),
                                   (None, "[1:8,1:8]", "too small")):
        with pytest.raises(UserInputError, match=message):
            fits_io.frame_region("f.fits", 1, "CCD_A", (40, 70), header, plane, region)


def test_header_text_escapes_what_fits_cannot_hold():
    assert fits_io.header_text("é_run.fits") == "\\xe9_run.fits"
    assert fits_io.header_text("tab\there") == "tab\\x09here"
    assert fits_io.header_text("plain-1.fits") == "plain-1.fits"


def test_fits_names_and_their_stems():
    assert all(fits_io.is_fits_name(name) for name in ("a.fits", "b.FIT", "c.fts.gz", "d.fits.fz", "e.fz"))
    assert not fits_io.is_fits_name("a.fits.txt") and not fits_io.is_fits_name("frame.npy")
    assert fits_io.fits_stem("run12.fits.gz") == "run12" and fits_io.fits_stem("run12.fits.fz") == "run12"
    assert fits_io.fits_stem("notes.txt") == "notes"
