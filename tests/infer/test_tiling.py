"""Overlapping sections of a frame of any size, and putting them back (ccdseg/infer/tiling.py)."""
import numpy as np
import pytest

from ccdseg.core.errors import UserInputError
from ccdseg.infer import tiling
from tests.fits_files import frame


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


def test_sections_stream_in_batches_and_paste_back_into_the_frame():
    image = frame((150, 170), seed=3)
    layout = tiling.plan_sections(image.shape, 64, 8, 8)
    full = np.zeros_like(image)
    numbers = []
    for batch_numbers, batch in tiling.iter_section_batches(image, layout, 3):
        assert batch.shape == (len(batch_numbers), *layout.window) and len(batch_numbers) <= 3
        for index, section in zip(batch_numbers, batch):
            tiling.paste_section(full, section, layout, index)
        numbers += list(batch_numbers)
    assert numbers == list(range(len(layout))) and np.array_equal(full, image)
    with pytest.raises(UserInputError, match="differs from the layout"):
        tiling.frame_to_sections(image[:100], layout)
