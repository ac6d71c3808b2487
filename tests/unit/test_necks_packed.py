"""The objects' masks packed on one canvas give each mask's own distance transform and
thick maxima (``necks._packed``, ``necks._maxima_per_mask``): what ``split_necks`` uses
to pick the few objects worth examining."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.necks import _maxima_per_mask, _packed, _thick_maxima


def _blobs(seed: int, count: int) -> list[np.ndarray]:
    """Masks of one to three overlapping discs each, 6-60 px across (peanuts, chains,
    single nuclei), some touching their box's every side."""
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(count):
        height, width = (int(v) for v in rng.integers(6, 60, 2))
        mask = np.zeros((height, width), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.circle(mask, centre, int(rng.integers(2, max(3, min(height, width) // 2))), 1, -1)
        masks.append(mask > 0)
    return masks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_packed_mask_has_its_own_distances_and_maxima(seed: int) -> None:
    masks = _blobs(seed, 400)
    canvas, places = _packed(masks)
    distances = cv2.distanceTransform(canvas, cv2.DIST_L2, 5)
    counts = _maxima_per_mask(distances, 3.0, places, masks)
    for mask, (row, column), count in zip(masks, places, counts.tolist(), strict=True):
        own = cv2.copyMakeBorder(mask.view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        alone = cv2.distanceTransform(own, cv2.DIST_L2, 5)
        box = distances[row : row + own.shape[0], column : column + own.shape[1]]
        assert np.array_equal(canvas[row : row + own.shape[0], column : column + own.shape[1]], own)
        assert np.array_equal(box, alone)
        assert count == _thick_maxima(alone, 3.0)[1] - 1
    assert (counts >= 2).any() and (counts <= 1).any()  # both kinds were packed


def test_a_mask_wider_than_the_canvas_gets_a_row_of_its_own() -> None:
    masks = [np.ones((3, 3000), bool), np.ones((2, 2), bool)]
    canvas, places = _packed(masks)
    assert canvas.shape == (5 + 4, 3002) and places == [(0, 0), (5, 0)]
