"""``nuclei._peak_centres`` joins touching peak pixels among themselves: the groups,
their order and their centres are OpenCV's labelling of the whole image (what it used
before), on random patterns sparse to dense."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.nuclei import _peak_centres


def _opencv(peaks: np.ndarray) -> np.ndarray:
    _count, _labels, _stats, centres = cv2.connectedComponentsWithStats(
        peaks.astype(np.uint8), connectivity=8
    )
    return np.round(centres[1:, ::-1]).astype(np.int64)


@pytest.mark.parametrize("density", [0.01, 0.1, 0.3, 0.6])
def test_groups_order_and_centres_are_opencvs(density: float) -> None:
    rng = np.random.default_rng(int(density * 100))
    compared = 0
    for _ in range(300):
        height, width = (int(v) for v in rng.integers(2, 90, 2))
        peaks = rng.random((height, width)) < density
        if not peaks.any():
            continue
        if density == 0.01:  # sparse: add a plateau (a clipped top) somewhere
            y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
            peaks[y : y + 2, x : x + 3] = True
        assert np.array_equal(_peak_centres(peaks), _opencv(peaks))
        compared += 1
    assert compared > 250
