"""Tile statistics by one call per tile shape: the same numbers as a loop over the tiles."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.cells import objects
from chalicelib.cells.objects import PLANE_FIT, PLANE_QUANTILE, linear_quantile, tile_stat


@pytest.mark.parametrize("seed", range(12))
def test_linear_quantile_is_numpys_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 2000)))
    dtype = np.float32 if seed % 2 else np.float64
    values = (rng.gamma(2.0, 3.0, shape) * 10 ** (seed % 4)).astype(dtype)
    if seed % 3 == 0:
        values = np.round(values)  # ties
    for q in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0, float(rng.random())):
        ours, numpys = linear_quantile(values, q), np.quantile(values, q, axis=-1)
        assert ours.dtype == numpys.dtype and np.array_equal(ours, numpys), q


@pytest.mark.parametrize(
    ("height", "width", "rows", "cols"), [(5, 7, 2, 2), (63, 130, 4, 4), (9, 4, 4, 4), (1, 1, 1, 1)]
)
def test_tile_stat_is_the_loop_over_tiles(height: int, width: int, rows: int, cols: int) -> None:
    values = np.random.default_rng(height).random((height, width)).astype(np.float32)
    top = np.arange(rows + 1) * height // rows
    left = np.arange(cols + 1) * width // cols
    grid = tile_stat(values, top, left, lambda stack: np.median(stack, axis=2))
    for i in range(rows):
        for j in range(cols):
            tile = values[top[i] : top[i + 1], left[j] : left[j + 1]]
            assert grid[i, j] == np.median(tile)


def _plane_by_loop(values: np.ndarray, tiles: int = 4) -> np.ndarray | None:
    """The plane as it was computed before (one ``np.quantile`` per tile)."""
    height, width = values.shape
    rows, cols = min(tiles, height), min(tiles, width)
    points = []
    for i in range(rows):
        y0, y1 = i * height // rows, (i + 1) * height // rows
        for j in range(cols):
            x0, x1 = j * width // cols, (j + 1) * width // cols
            level = float(np.quantile(values[y0:y1, x0:x1], PLANE_QUANTILE))
            points.append(((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2, level))
    xs, ys, levels = np.asarray(points).T
    design = np.stack([np.ones(xs.size), xs, ys], axis=1)
    (a, b, c), *_ = np.linalg.lstsq(design, levels, rcond=None)
    spread = float(np.sum(np.square(levels - levels.mean())))
    missed = float(np.sum(np.square(levels - design @ np.array([a, b, c]))))
    if missed > (1 - PLANE_FIT) * spread:
        return None
    row = (a + b * np.arange(width)).astype(np.float32)
    column = (c * np.arange(height)).astype(np.float32)
    return np.asarray(row[None, :] + column[:, None])


@pytest.mark.parametrize("seed", range(40))
def test_the_background_plane_is_the_loops(seed: int) -> None:
    rng = np.random.default_rng(seed)
    height, width = (int(n) for n in rng.integers(1, 140, 2))
    values = (rng.random((height, width)) * 50).astype(np.float32)
    if seed % 2:  # a tilt the plane finds (else mostly none)
        values += np.add.outer(0.5 * np.arange(height), 2.0 * np.arange(width)).astype(np.float32)
    ours, loop = objects._plane(values), _plane_by_loop(values)
    assert (ours is None) == (loop is None)
    if loop is not None:
        assert ours is not None and np.array_equal(ours, loop)
