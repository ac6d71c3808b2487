"""Non-finite pixels (issue qa4): a float TIFF with NaN or infinite pixels is stretched
over its finite values, not turned black."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.container import count_image
from chalicelib.cells.pixels import to_uint8
from tests.images import DISCS, discs


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_float_tiff_with_non_finite_pixels_is_still_counted(bad: float) -> None:
    image = discs().astype(np.float32)
    image[0:4, 0:4] = bad  # a corner away from the discs
    ok, encoded = cv2.imencode(".tif", image)
    assert ok
    counting, decoded, _ = count_image(encoded.tobytes(), 10**8)
    assert counting.count == len(DISCS)
    assert decoded.dtype == np.uint8 and decoded.max() == 255


def test_non_finite_pixels_take_the_ends_of_the_range() -> None:
    image = np.array([[0.0, 0.5, 1.0, np.nan, np.inf, -np.inf]], np.float32)
    assert to_uint8(image).tolist() == [[0, 128, 255, 0, 255, 0]]


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_an_image_without_finite_pixels_is_black(value: float) -> None:
    assert not to_uint8(np.full((3, 4), value, np.float32)).any()
