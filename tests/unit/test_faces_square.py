"""A second look's crop (``blazeface._square``) mirrors only the part of the frame it needs,
and a second look's decoding skips the extents: the same pixels and boxes as before."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.faces.blazeface import _square, decode_faces


def _square_by_whole_mirror(
    grey: np.ndarray, centre_x: float, centre_y: float, side: float
) -> np.ndarray | None:
    """The crop as it was made before: the whole frame mirrored, then cut."""
    x0, y0 = round(centre_x - side / 2), round(centre_y - side / 2)
    x1, y1 = round(centre_x + side / 2), round(centre_y + side / 2)
    if x1 <= x0 or y1 <= y0:
        return None
    height, width = grey.shape[:2]
    margin = max(0, -x0, -y0, x1 - width, y1 - height)
    if margin:
        margin = min(margin, min(height, width) - 1)
        grey = cv2.copyMakeBorder(grey, margin, margin, margin, margin, cv2.BORDER_REFLECT_101)
        x0, y0, x1, y1 = (max(0, v + margin) for v in (x0, y0, x1, y1))
    crop = grey[y0:y1, x0:x1]
    return crop if crop.size else None


@pytest.mark.parametrize("size", [(48, 64), (64, 48), (30, 30), (7, 90)])
def test_the_crop_is_the_whole_mirrors_crop(size) -> None:
    rng = np.random.default_rng(sum(size))
    grey = rng.integers(0, 256, size, dtype=np.uint8)
    height, width = size
    for _ in range(1500):
        centre_x = rng.uniform(-1.5 * width, 2.5 * width)
        centre_y = rng.uniform(-1.5 * height, 2.5 * height)
        side = rng.uniform(0.5, 3 * max(size))
        before = _square_by_whole_mirror(grey, centre_x, centre_y, side)
        now = _square(grey, centre_x, centre_y, side)
        if before is None:
            assert now is None
        else:
            assert now is not None and np.array_equal(now, before)


@pytest.mark.parametrize(("x", "y"), [(0.0, 0.0), (63.0, 47.0), (0.0, 47.0), (32.0, 24.0)])
def test_corners_and_the_middle(x, y) -> None:
    grey = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64).astype(np.uint8)
    for side in (2.0, 9.0, 30.0, 47.0, 60.0, 200.0):
        before = _square_by_whole_mirror(grey, x, y, side)
        assert before is not None
        assert np.array_equal(_square(grey, x, y, side), before)


def test_without_extents_the_boxes_and_scores_are_the_same() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(-2, 3, 896)
    regressors = rng.normal(0, 8, (896, 16))
    regressors[:, 2:4] = rng.uniform(8, 40, (896, 2))
    boxes, extents, probability = decode_faces(scores, regressors, 128, 128, 0.02)
    plain, again, plain_probability = decode_faces(
        scores, regressors, 128, 128, 0.02, extents=False
    )
    assert len(boxes) > 100
    assert np.array_equal(plain, boxes) and np.array_equal(plain_probability, probability)
    assert again is plain and not np.array_equal(extents, boxes)
