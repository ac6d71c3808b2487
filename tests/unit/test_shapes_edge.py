"""``objects.shapes`` measures each object on its edge pixels: the same rectangle and
hull, to the last bit, as on all of its pixels (what it did before)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.objects import shapes


def _reference(mask: np.ndarray) -> tuple[float, float]:
    """Elongation and solidity from every pixel of ``mask`` (the slow way)."""
    ys, xs = np.divmod(np.flatnonzero(mask), mask.shape[1])
    points = np.stack([xs, ys], axis=1).astype(np.int32)
    (_, _), (w, h), _ = cv2.minAreaRect(points)
    hull = cv2.convexHull(points)
    area = float(xs.size)
    return max(w, h) / max(1.0, min(w, h)), min(
        1.0, area / max(1.0, cv2.contourArea(hull) + 0.5 * len(hull))
    )


def _shape(rng: np.random.Generator) -> np.ndarray:
    """Discs, thin ellipses (fibres) and lines, overlapping; some speckled with holes
    and islands; up to 150 px."""
    height, width = (int(v) for v in rng.integers(5, 150, 2))
    mask = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(1, 6))):
        kind = int(rng.integers(0, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if kind == 0:
            cv2.circle(mask, centre, int(rng.integers(1, 40)), 1, -1)
        elif kind == 1:
            axes = (int(rng.integers(1, 60)), int(rng.integers(1, 10)))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        else:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(mask, centre, end, 1, int(rng.integers(1, 4)))
    if rng.random() < 0.3:
        mask ^= (rng.random(mask.shape) < 0.05).astype(np.uint8)
    return mask


@pytest.mark.parametrize("seed", range(4))
def test_edge_pixels_give_the_rectangle_and_hull_of_all_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(500):
        mask = _shape(rng)
        if np.count_nonzero(mask) < 5:
            continue
        labels = mask.astype(np.int32) * 3  # label 3, with labels 1 and 2 absent
        measured = shapes(labels, 3, only=np.array([3]))
        elongation, solidity = _reference(mask)
        assert measured.elongation[3] == elongation and measured.solidity[3] == solidity
