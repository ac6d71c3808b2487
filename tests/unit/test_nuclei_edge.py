"""A nucleus centred beyond the image's edge: its rim or glow is not counted (issue 12ar).

A crop of a field cuts nuclei at its edges. One cut through its centre is counted;
one centred a radius or more beyond the edge leaves only its rim or an out-of-focus
glow in the image, brightest on the edge, and is not.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.counting import count_cells

RADIUS = 7
SIZE = 128


def field(beyond: float, side: str, seed: int, glow: float = 5.0) -> np.ndarray:
    """Four whole nuclei, one cut through its centre by the left edge (sharp), and one
    centred ``beyond`` radii outside the image on ``side``, blurred by ``glow`` px."""
    sharp = np.zeros((SIZE + 64, SIZE + 64), np.float32)  # drawn with a margin, then cut
    outside = np.zeros_like(sharp)
    for x, y in [(64, 64), (36, 100), (100, 36), (100, 100), (0, 60)]:
        cv2.circle(sharp, (x + 32, y + 32), RADIUS, 1.0, -1)
    x, y = {
        "top": (80, -beyond * RADIUS),
        "bottom": (50, SIZE - 1 + beyond * RADIUS),
        "right": (SIZE - 1 + beyond * RADIUS, 70),
    }[side]
    cv2.circle(outside, (round(x + 32), round(y + 32)), RADIUS, 1.0, -1)
    light = cv2.GaussianBlur(sharp, (0, 0), 1.5) + cv2.GaussianBlur(outside, (0, 0), glow)
    light = light[32:-32, 32:-32]
    rng = np.random.default_rng(seed)
    return np.clip(20 + 150 * light + rng.normal(0, 2, light.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("beyond", [1.0, 1.5])
@pytest.mark.parametrize("side", ["top", "bottom", "right"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_glow_of_a_nucleus_beyond_the_edge_is_not_counted(
    beyond: float, side: str, seed: int
) -> None:
    # the four whole nuclei and the one cut through its centre
    assert count_cells(field(beyond, side, seed)).count == 5


@pytest.mark.parametrize("side", ["top", "bottom", "right"])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_nucleus_cut_through_its_centre_is_still_counted(side: str, seed: int) -> None:
    assert count_cells(field(0.0, side, seed, glow=1.5)).count == 6


def test_only_counted_objects_brightest_on_the_edge_and_shallow_are_dropped() -> None:
    from chalicelib.cells.nuclei import _beyond_edge

    labels = np.zeros((30, 30), np.int32)
    labels[0:2, 4:9] = 1  # shallow, brightest on the edge: dropped
    labels[0:2, 12:17] = 2  # shallow, brightest inside: kept
    labels[0:8, 20:26] = 3  # deep: kept
    labels[28:30, 4:9] = 4  # flagged (count 3): kept as it is
    smoothed = np.zeros((30, 30), np.float32)
    smoothed[0, 6] = smoothed[1, 14] = smoothed[0, 22] = smoothed[29, 6] = 5.0
    kept, count, areas = _beyond_edge(labels, 3, None, smoothed, 5.0)
    assert count == 2
    assert kept[0, 6] == 0 and kept[1, 14] == 1 and kept[0, 22] == 2 and kept[29, 6] == 3
    assert areas is not None and areas.tolist() == [900 - 20 - 48, 10, 48, 10]


@pytest.mark.parametrize(("peak", "dropped"), [(2.5, True), (3.0, False)])
def test_a_weak_object_brightest_on_the_edge_within_a_radius_is_dropped(
    peak: float, dropped: bool
) -> None:
    from chalicelib.cells.nuclei import _beyond_edge

    labels = np.zeros((30, 30), np.int32)
    labels[0:4, 10:16] = 1  # deeper than half a radius (5 px), within a radius
    smoothed = np.zeros((30, 30), np.float32)
    smoothed[0, 12] = peak
    # the seed's floor is 2: a peak under sqrt(2) of it, with half the support outside
    _, count, _ = _beyond_edge(labels, 1, None, smoothed, 5.0, 2.0)
    assert count == (0 if dropped else 1)
