"""Small nuclei the flood cuts short are given back what their own level keeps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.counting import count_cells
from chalicelib.cells.nuclei import MIN_AREA_FRACTION, RECLAIM_SIGMAS, _reclaim

R = 5.0  # nucleus radius at the working resolution


def _bump(
    shape: tuple[int, int], centre: tuple[int, int], height: float, sigma: float
) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    d2 = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2
    return np.asarray(height * np.exp(-d2 / (2 * sigma**2)), np.float32)


def _left_a_core(shape: tuple[int, int], centre: tuple[int, int]) -> np.ndarray:
    """Labels where the flood left object 1 only its 3 x 3 core."""
    labels = np.zeros(shape, np.int32)
    x, y = centre
    labels[y - 1 : y + 2, x - 1 : x + 2] = 1
    return labels


def test_a_bright_object_cut_short_takes_back_its_bump() -> None:
    smoothed = _bump((60, 60), (30, 30), 100.0, 3.0)
    labels = _left_a_core(smoothed.shape, (30, 30))
    assert labels.sum() < MIN_AREA_FRACTION * np.pi * R * R  # debris as the flood left it
    peak = np.array([0.0, 100.0], np.float32)
    grown = _reclaim(labels.copy(), smoothed, peak, 0.0, 0.0, R)
    # exactly the pixels at or above half its peak (the trim's level), all of them
    assert np.array_equal(grown == 1, smoothed >= 50.0)
    assert (grown == 1).sum() > MIN_AREA_FRACTION * np.pi * R * R


@pytest.mark.parametrize(
    "case",
    ["weak", "sliver at the edge", "broad haze"],
)
def test_weak_bumps_slivers_and_haze_stay_as_the_flood_left_them(case: str) -> None:
    centre = (0, 30) if case == "sliver at the edge" else (30, 30)
    sigma = 15.0 if case == "broad haze" else 3.0
    height = RECLAIM_SIGMAS / 2 if case == "weak" else 100.0
    smoothed = _bump((60, 60), centre, height, sigma)
    labels = np.zeros(smoothed.shape, np.int32)
    x, y = centre
    labels[y - 1 : y + 2, max(0, x - 1) : x + 2] = 1
    peak = np.array([0.0, height], np.float32)
    assert np.array_equal(_reclaim(labels.copy(), smoothed, peak, 0.0, 0.0, R), labels)


def test_a_small_saturated_nucleus_among_larger_dim_ones_is_counted() -> None:
    # The background marker of cv2.watershed climbed its steep flanks and left it a
    # few pixels, dropped as debris: 8 of 9 were counted before.
    rng = np.random.default_rng(3)
    image = np.full((160, 160), 8.0, np.float32)
    centres = [(30, 30), (30, 80), (30, 130), (80, 30), (130, 30), (130, 130), (80, 130), (130, 80)]
    for x, y in centres:
        cv2.circle(image, (x, y), 8, 90.0, -1)
    cv2.circle(image, (80, 80), 4, 400.0, -1)  # clipped at 255 below
    noisy = cv2.GaussianBlur(image, (0, 0), 1.5) + rng.normal(0, 1.0, image.shape)
    counting = count_cells(np.clip(noisy, 0, 255).astype(np.uint8))
    found = {(round(c.x), round(c.y)) for c in counting.cells}
    assert counting.count == 9
    assert any(abs(x - 80) <= 2 and abs(y - 80) <= 2 for x, y in found)


def test_a_summit_beside_a_neighbours_flank_takes_back_only_what_lies_downhill() -> None:
    # Its level joins it to the unlabelled flank of a neighbour (which reaches out of
    # its window: a haze by the closed-bump rule), but it is the window's summit and
    # the neighbour's flank rises away from the saddle between them.
    smoothed = np.maximum(
        _bump((60, 60), (30, 30), 100.0, 3.0), _bump((60, 60), (41, 30), 95.0, 4.0)
    )
    labels = _left_a_core(smoothed.shape, (30, 30))
    peak = np.array([0.0, 100.0], np.float32)
    grown = _reclaim(labels.copy(), smoothed, peak, 0.0, 0.0, R, 0.5)
    mine = grown == 1
    assert mine.sum() > MIN_AREA_FRACTION * np.pi * R * R
    assert mine[30, 27] and not mine[30, 37]  # its own side, not the neighbour's bump
    assert np.all(smoothed[mine] >= 50.0)


def test_a_piece_on_a_brighter_neighbours_flank_is_not_reclaimed() -> None:
    # Not the summit of its window: a piece of a brighter structure's flank.
    smoothed = np.maximum(
        _bump((60, 60), (30, 30), 60.0, 3.0), _bump((60, 60), (38, 30), 100.0, 4.0)
    )
    labels = _left_a_core(smoothed.shape, (30, 30))
    peak = np.array([0.0, float(smoothed[30, 30])], np.float32)
    assert np.array_equal(_reclaim(labels.copy(), smoothed, peak, 0.0, 0.0, R, 0.5), labels)
