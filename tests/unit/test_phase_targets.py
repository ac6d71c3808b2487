"""The density model's training targets (devtools.phase_training.footprint_density, issue-12p):
a small cell keeps its Gaussian, a large contrasted cell is spread over its own pixels, and
every annotated cell inside the image is one unit either way."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from devtools import phase_training


def contrast_with(
    discs: list[tuple[int, int, int]], shape: tuple[int, int] = (80, 120)
) -> np.ndarray:
    """A working-size contrast: 0 on the background, 0.2 inside each (x, y, radius) disc."""
    signal = np.zeros(shape, np.float32)
    for x, y, radius in discs:
        cv2.circle(signal, (x, y), radius, 0.2, -1)
    return signal


def test_each_point_inside_is_one_unit() -> None:
    signal = contrast_with([(20, 20, 4), (70, 40, 16)])
    points = np.array([[20.0, 20.0], [70.0, 40.0], [110.0, 70.0]])  # the last on the background
    target = phase_training.footprint_density(signal, points, 1.0)
    assert abs(float(target.sum()) - 3.0) < 0.02


def test_a_small_cell_keeps_its_gaussian() -> None:
    signal = contrast_with([(40, 40, 4)])
    points = np.array([[40.0, 40.0]])
    ours = phase_training.footprint_density(signal, points, 1.0)
    gaussian = phase_training.target_density(signal.shape, points, 1.0)
    assert np.allclose(ours, gaussian, atol=1e-6)


def test_a_large_cell_is_spread_over_its_contrasted_pixels() -> None:
    signal = contrast_with([(60, 40, 18)])
    points = np.array([[60.0, 40.0]])
    ours = phase_training.footprint_density(signal, points, 1.0)
    gaussian = phase_training.target_density(signal.shape, points, 1.0)
    assert ours.max() < 0.25 * gaussian.max()  # low and wide ...
    assert ours[40, 74] > 0.5 * ours[40, 60]  # ... out to the cell's rim
    assert ours[5, 5] < 1e-6  # not over the background


def test_points_on_one_pixel_count_each() -> None:
    signal = contrast_with([(60, 40, 18)])
    points = np.array([[60.0, 40.0], [60.2, 39.9]])
    target = phase_training.footprint_density(signal, points, 1.0)
    assert abs(float(target.sum()) - 2.0) < 0.02


def test_neighbours_share_a_large_contrasted_patch() -> None:
    """Two points in one wide patch: each takes the pixels nearer to it (two units)."""
    signal = contrast_with([(60, 40, 30)])
    points = np.array([[45.0, 40.0], [75.0, 40.0]])
    target = phase_training.footprint_density(signal, points, 1.0)
    left, right = float(target[:, :60].sum()), float(target[:, 60:].sum())
    assert abs(left - 1.0) < 0.1 and abs(right - 1.0) < 0.1


def test_every_training_view_weighs_the_same_whatever_its_size() -> None:
    """Issue-12ag: a 130 x 190 px crop's view weighs as much as an 800 x 800 one's."""
    sizes = [1_500, 40_000, 6_000]
    weights = phase_training.view_weights(sizes)
    assert weights.shape == (sum(sizes),)
    assert abs(float(weights.mean()) - 1.0) < 1e-9
    starts = np.cumsum([0, *sizes])
    totals = [float(weights[a:b].sum()) for a, b in itertools.pairwise(starts)]
    assert max(totals) - min(totals) < 1e-6 * max(totals)
