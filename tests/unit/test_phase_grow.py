"""The cells' growth over their contrasted pixels (``phase._grow``) in 16 bits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells import phase


def _grow_in_float(labels: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """The growth as it was written before (float32 labels, a masked set)."""
    grown = labels.astype(np.float32)
    free = footprint & (labels == 0)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    for _ in range(phase.GROW):
        spread = cv2.dilate(grown, cross)
        reached = free & (spread > 0)
        if not reached.any():
            break
        grown[reached] = spread[reached]
        free &= ~reached
    return grown.astype(np.int32)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("offset", [0, 65_000, 70_000])
def test_grow_is_the_float_growth(seed: int, offset: int) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 120, 2))
    labels = np.zeros(shape, np.int32)
    seeds = rng.random(shape) < 0.02
    labels[seeds] = rng.integers(1, 400, int(seeds.sum())) + offset  # ties of labels too
    footprint = rng.random(shape) < float(rng.uniform(0.3, 0.9))
    ours = phase._grow(labels, footprint)
    assert ours.dtype == np.int32
    assert np.array_equal(ours, _grow_in_float(labels, footprint))


def test_grow_of_no_cells_is_empty() -> None:
    labels = np.zeros((5, 7), np.int32)
    assert not phase._grow(labels, np.ones((5, 7), bool)).any()
