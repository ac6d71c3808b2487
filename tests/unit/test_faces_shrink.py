"""``blazeface.shrink_area``: OpenCV's area shrink, halved first at small scales."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.faces.blazeface import HALVE_BELOW, shrink_area


def _picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Texture at several scales (noise smoothed by 3 and 15 px), grey levels 0-255."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.uniform(0, 255, (height, width)).astype(np.float32), (0, 0), 3)
    coarse = cv2.GaussianBlur(rng.uniform(0, 255, (height, width)).astype(np.float32), (0, 0), 15)
    mixed = 0.5 * (fine - fine.mean()) * 8 + (coarse - coarse.mean()) * 12 + 128
    return np.clip(mixed, 0, 255).astype(np.uint8)


def _direct(image: np.ndarray, scale: float) -> np.ndarray:
    return np.asarray(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("size", [(1037, 1099), (333, 517)])
@pytest.mark.parametrize(
    ("scale", "mean", "p99"),
    # (the further the shrink, the coarser the halves against an output pixel's area:
    # measured 2.1-2.2 mean at 0.059 on this texture, 1.1-1.2 on 1080p frames)
    [(0.059, 2.5, 10), (0.0868, 1.5, 4), (0.126, 1.0, 2), (0.177, 1.0, 2), (0.208, 1.0, 2)],
)
def test_small_scales_give_opencvs_size_and_nearly_its_pixels(size, scale, mean, p99) -> None:
    image = _picture(*size)
    direct, shrunk = _direct(image, scale), shrink_area(image, scale)
    assert shrunk.shape == direct.shape and shrunk.dtype == np.uint8
    assert shrunk.flags.c_contiguous
    # (the last row and column may stand for an odd input row or column dropped)
    difference = np.abs(shrunk.astype(int) - direct)[:-1, :-1]
    assert difference.mean() < mean
    assert np.percentile(difference, 99) <= p99


@pytest.mark.parametrize("scale", [HALVE_BELOW + 0.01, 0.4, 0.5, 0.9])
def test_larger_scales_are_opencvs_own(scale) -> None:
    image = _picture(401, 603)
    assert np.array_equal(shrink_area(image, scale), _direct(image, scale))


@pytest.mark.parametrize("size", [(8, 8), (12, 40), (20, 20)])
def test_tiny_images_are_not_halved_to_nothing(size) -> None:
    image = np.full(size, 77, np.uint8)
    shrunk = shrink_area(image, 0.09)
    assert shrunk.shape == (max(1, round(size[0] * 0.09)), max(1, round(size[1] * 0.09)))
    assert (shrunk == 77).all()


def test_an_even_image_keeps_a_flat_region_flat_and_an_edge_in_place() -> None:
    image = np.zeros((800, 800), np.uint8)
    image[:, 400:] = 200  # a vertical edge in the middle
    shrunk = shrink_area(image, 0.09)
    assert shrunk.shape == (72, 72)
    assert (shrunk[:, :35] == 0).all() and (shrunk[:, 37:] == 200).all()


@pytest.mark.parametrize("scale", [0.25, 0.2, 0.125, 0.1])
def test_whole_blocks_are_left_to_opencvs_fast_means(scale) -> None:
    image = _picture(300, 420)
    assert np.array_equal(shrink_area(image, scale), _direct(image, scale))
