"""How far a box cut by the frame's edge grows inwards (issue 14ab): with the share of the
box beyond the edge, in full from half of it beyond on, nothing for a box in view."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from chalicelib.faces.tracking import (
    EDGE_GROW,
    CoverageSettings,
    FaceCoverage,
    _Track,
    edge_inward,
)

WIDTH, HEIGHT = 640, 480


@pytest.mark.parametrize(
    "box",
    [
        (-60, 100, 100, 80),  # left
        (100, -50, 80, 100),  # top
        (590, 100, 100, 80),  # right
        (100, 430, 80, 100),  # bottom
        (-70, -60, 100, 100),  # a corner
    ],
)
def test_a_box_half_or_more_beyond_the_edge_grows_by_the_whole_share(box: tuple) -> None:
    _x, _y, w, h = box
    assert edge_inward(np.array(box, np.float64), WIDTH, HEIGHT) == pytest.approx(
        EDGE_GROW * min(w, h)
    )


def test_the_growth_rises_with_the_share_beyond_the_edge() -> None:
    grown = [
        edge_inward(np.array([-beyond, 200, 100, 100.0]), WIDTH, HEIGHT)
        for beyond in (0, 10, 25, 40, 50, 75, 99)
    ]
    assert grown[0] == 0.0  # touching the edge, nothing beyond
    assert all(a <= b for a, b in itertools.pairwise(grown))
    assert grown[2] == pytest.approx(0.5 * EDGE_GROW * 100)
    assert grown[4] == grown[5] == grown[6] == pytest.approx(EDGE_GROW * 100)


def test_a_box_inside_the_frame_does_not_grow() -> None:
    assert edge_inward(np.array([200, 200, 100, 100.0]), WIDTH, HEIGHT) == 0.0
    assert edge_inward(np.array([0, 0, WIDTH, HEIGHT], np.float64), WIDTH, HEIGHT) == 0.0


class _NoDetector:
    name = "none"
    min_face = 20

    def search(self, *args: object) -> list:
        return []


@pytest.mark.parametrize("beyond", [10, 30, 60])
def test_the_blurred_rectangle_still_holds_the_padded_box_and_reaches_the_edge(
    beyond: int,
) -> None:
    coverage = FaceCoverage(_NoDetector(), (WIDTH, HEIGHT), 30.0, CoverageSettings())
    box = np.array([-beyond, 150, 120, 120.0])
    track = _Track(0, 0, 0, box, view="blazeface")
    rect = coverage._padded(track, box, 0, np.zeros(2))
    assert rect is not None
    x, _y, w, _h = rect
    pad = CoverageSettings().pad * 120
    assert x == 0
    assert x + w >= box[0] + box[2] + pad + edge_inward(box, WIDTH, HEIGHT) - 1
    # the growth is less for a box more in view
    assert w <= box[0] + box[2] + pad + EDGE_GROW * 120 + 1
