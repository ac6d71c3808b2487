"""``scale_maxima`` reads the dilated layer at the pixels, at the edges as inside (12ah)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.nuclei import scale_maxima
from chalicelib.cells.objects import disk


@pytest.mark.parametrize("seed", range(6))
def test_any_footprint_any_size_is_the_dilation_read_at_the_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(20):
        height, width = (int(v) for v in rng.integers(1, 40, 2))
        blob = rng.integers(0, 4, (height, width)).astype(np.float32)
        other = rng.integers(0, 4, (height, width)).astype(np.float32)
        if rng.random() < 0.5:
            footprint = disk(float(rng.uniform(0.5, 6.0)))
        else:  # even sides too: the anchor is at side // 2, as cv2.dilate's
            footprint = np.ones(tuple(int(v) for v in rng.integers(1, 6, 2)), np.uint8)
        pixels = np.flatnonzero(rng.random(height * width) < 0.6)
        dilated = cv2.dilate(other, footprint, borderType=cv2.BORDER_CONSTANT, borderValue=-np.inf)
        expected = (blob >= dilated).ravel()[pixels]
        assert scale_maxima(blob, pixels, other, footprint).tolist() == expected.tolist()


def test_no_pixels_no_maxima() -> None:
    layer = np.zeros((5, 5), np.float32)
    assert scale_maxima(layer, np.array([], np.intp), layer, disk(2.0)).size == 0
