"""Terraces left by rounding a smooth, dimmed background to whole levels are not
nuclei (issue 12am)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.nuclei import segment_nuclei
from chalicelib.cells.objects import banding_floor, intensity_range


def test_banding_floor_is_one_level_where_the_noise_is_under_it() -> None:
    noise = np.array([[0.05, 0.1, 0.5]], np.float32)  # one level is 0.1
    floor = banding_floor(1.2, 0.1, noise, 1.0)
    assert np.allclose(floor, [[2.0, 1.2, 1.2]])


def test_banding_floor_is_the_scalar_when_no_level_reaches_it() -> None:
    noise = np.full((4, 4), 0.5, np.float32)
    assert banding_floor(1.2, 0.1, noise, 1.0) == 1.2
    assert banding_floor(1.2, 0.0, noise, 1.0) == 1.2  # float images: no levels


def _vignetted_field(seed: int) -> tuple[np.ndarray, int]:
    """An 8-bit field: a dim background with a haze of 0.3 level, falling off to the
    corners, noise of 0.1 level (terraces once rounded), and a grid of bright nuclei."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32)
    r2 = ((xx - 128) / 128) ** 2 + ((yy - 128) / 128) ** 2
    haze = cv2.GaussianBlur(rng.normal(0, 1, r2.shape).astype(np.float32), (0, 0), 8.0)
    haze *= 0.3 / haze.std()
    values = (14.0 + haze) * (1 - 0.6 * np.clip(r2 / 2, 0, 1)) + rng.normal(0, 0.1, r2.shape)
    centres = [(x, y) for x in range(48, 240, 64) for y in range(48, 240, 64)]
    for x, y in centres:
        values += 120.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 5.0**2))
    return np.clip(values + 0.5, 0, 255).astype(np.uint8), len(centres)


@pytest.mark.parametrize("seed", [1, 2])  # main before 12am: 11 and 12 of 9
def test_rounded_vignetting_adds_no_objects(seed: int) -> None:
    gray, nuclei = _vignetted_field(seed)
    found = segment_nuclei(gray, 7.0, 1, intensity_range(gray))
    assert found.count == nuclei
