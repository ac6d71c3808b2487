"""QC focus: edge sharpness at the objects' scale, judged on a central window."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.quality import FOCUS_WARNING, FOCUS_WINDOW, focus


def _nuclei(side: int, radius: int = 9, seed: int = 3) -> np.ndarray:
    """Sharp-edged discs on a grid (jittered), with a little noise."""
    rng = np.random.default_rng(seed)
    image = np.full((side, side), 20.0, np.float32)
    for y in range(radius * 2, side - radius, radius * 3):
        for x in range(radius * 2, side - radius, radius * 3):
            centre = (x + int(rng.integers(-3, 4)), y + int(rng.integers(-3, 4)))
            cv2.circle(image, centre, radius, float(rng.uniform(120, 220)), -1)
    image += rng.normal(0, 2.0, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_sharp_nuclei_read_sharper_than_blurred_ones() -> None:
    image = _nuclei(320)
    sharp = focus(image, 9.0)
    assert sharp >= FOCUS_WARNING
    assert focus(cv2.GaussianBlur(image, (0, 0), 2.0), 9.0) < sharp
    assert focus(cv2.GaussianBlur(image, (0, 0), 4.0), 9.0) < sharp


@pytest.mark.parametrize("radius", [4.0, 9.0, 20.0])
def test_only_the_central_window_is_read(radius: float) -> None:
    # Pixels outside the central window (after the step) never change the value.
    image = _nuclei(900, seed=5)
    step = max(1, int(radius / 6))
    side = FOCUS_WINDOW * step
    y0 = x0 = step * max(0, (image.shape[0] // step - FOCUS_WINDOW) // 2)
    changed = np.zeros_like(image)
    changed[y0 : y0 + side, x0 : x0 + side] = image[y0 : y0 + side, x0 : x0 + side]
    assert focus(changed, radius) == focus(image, radius)


def test_no_radius_no_focus() -> None:
    assert focus(_nuclei(64), 0.0) == 0.0
