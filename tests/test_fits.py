"""FITS frames in, overlapping sections, full-size class maps out (load_dataset.py)."""
import numpy as np
import pytest
from astropy.io import fits

from ccdseg.core.classes import CLASS_NAMES, CLUSTER, HOT_PIXEL
from ccdseg.core.errors import UserInputError
from ccdseg.io import fits as fits_io
from ccdseg.infer import object_search
from ccdseg.core import safe_write
from ccdseg.infer import tiling
from load_dataset import process_fits


def frame(shape, seed=0):
    return np.random.default_rng(seed).normal(8800.0, 19.0, shape).astype(np.float32)


def assert_one_line_naming(exc_info, path):
    message = str(exc_info.value)
    assert message.startswith(str(path)) and "\n" not in message


# %% Sections
@pytest.mark.parametrize("shape", [(1000, 1500), (301, 517), (17, 33), (4096, 4096), (256, 2050)])
def test_sections_cover_every_pixel_once_away_from_tile_edges(shape):
    tile, margin, multiple = 256, 32, 8
    layout = tiling.plan_sections(shape, tile, margin, multiple)
    for size, window, starts, cuts in (
        (shape[0], layout.window[0], layout.row_starts, layout.row_cuts),
        (shape[1], layout.window[1], layout.col_starts, layout.col_cuts),
    ):
        assert window <= max(tile, -(-size // multiple) * multiple) and window % multiple == 0
        assert all(s % multiple == 0 for s in starts) and starts[-1] + window >= size
        assert cuts[0] == 0 and cuts[-1] == size and all(a <= b for a, b in zip(cuts, cuts[1:]))
        for i, start in enumerate(starts):
            assert start <= cuts[i] and cuts[i + 1] <= start + window
            assert i == 0 or cuts[i] - start >= margin
            assert i == len(starts) - 1 or start + window - cuts[i + 1] >= margin
    if shape == (4096, 4096):
        assert layout.model_pixels / (4096 * 4096) <= (tile / (tile - 2 * margin)) ** 2
        default = tiling.plan_sections(shape, tiling.TILE_SIZE_PX, tiling.MARGIN_PX, multiple)
        assert default.model_pixels / (4096 * 4096) < 1.2


def test_sections_round_trip_for_a_frame_no_multiple_of_the_tile():
    image = frame((301, 517))
    layout = tiling.plan_sections(image.shape, 128, 16, 8)
    sections = tiling.frame_to_sections(image, layout)
    assert sections.shape == (len(layout), *layout.window)
    assert np.array_equal(tiling.images_small2big(sections, layout), image)
    probabilities = np.stack([sections] * 4, axis=-1)
    assert tiling.images_small2big(probabilities, layout).shape == (301, 517, 4)


def test_frame_smaller_than_a_tile_is_one_padded_section():
    layout = tiling.plan_sections((20, 37), 256, 32, 8)
    assert len(layout) == 1 and layout.window == (24, 40)
    image = frame((20, 37))
    assert np.array_equal(tiling.images_small2big(tiling.frame_to_sections(image, layout), layout), image)


def test_bad_tile_settings_are_refused():
    with pytest.raises(UserInputError, match="multiple of 8"):
        tiling.plan_sections((100, 100), 100, 8, 8)
    with pytest.raises(UserInputError):
        tiling.plan_sections((100, 100), 64, 32, 8)


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
    normalised = process_fits(path, normalise=True).normalised
    assert np.isfinite(normalised).all() and abs(float(np.median(normalised))) < 0.1


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


def write_bad_file(tmp_path, kind):
    path = tmp_path / f"{kind}.fits"
    good = tmp_path / "good_source.fits"
    fits.PrimaryHDU(frame((64, 64))).writeto(good, overwrite=True)
    if kind == "truncated":
        path.write_bytes(good.read_bytes()[: 2880 + 5000])
    elif kind == "corrupt":
        path.write_bytes(b"this is not a FITS file " * 200)
    elif kind == "no_image":
        table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.arange(3.0))])
        fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    elif kind == "all_nan":
        fits.PrimaryHDU(np.full((64, 64), np.nan, np.float32)).writeto(path)
    elif kind == "too_small":
        fits.PrimaryHDU(frame((8, 300))).writeto(path)
    elif kind == "folder":
        path.mkdir()
    good.unlink()
    return path


BAD_KINDS = ("truncated", "corrupt", "no_image", "all_nan", "too_small", "missing", "folder")


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, kind):
    path = write_bad_file(tmp_path, kind)
    with pytest.raises(UserInputError) as info:
        fits_io.read_fits_frame(path)
    assert_one_line_naming(info, path)


# %% Writing
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
    fits_io.write_segmentation_fits(target, read, classes, {"SEGMODEL": ("m.keras", "model file")})
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
        fits_io.write_segmentation_fits(target, read, classes)
    fits_io.write_segmentation_fits(target, read, classes, force=True)


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "map.fits"

    def write_half(tmp):
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        safe_write.write_atomically(target, write_half)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        safe_write.write_atomically(target, write_half, force=True)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


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


def test_header_text_escapes_what_fits_cannot_hold():
    assert fits_io.header_text("é_run.fits") == "\\xe9_run.fits"
    assert fits_io.header_text("tab\there") == "tab\\x09here"
    assert fits_io.header_text("plain-1.fits") == "plain-1.fits"
