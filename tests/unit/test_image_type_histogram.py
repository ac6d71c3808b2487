"""The image-type decision's histogram agrees with NumPy's (it decides the mode)."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.cells.image_type import histogram
from chalicelib.cells.objects import quantile


@pytest.mark.parametrize("seed", range(20))
def test_histogram_equals_numpys_including_the_range_ends(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tile = (rng.gamma(1.0 + seed % 4, 1.0, (37 + seed, 53)) * 10 ** (seed % 5 - 2)).astype(
        np.float32
    )
    lo, hi = quantile(tile, 0.005), quantile(tile, 0.995)  # values of the tile: both counted
    counts = histogram(tile, 64, lo, hi)
    assert np.array_equal(counts, np.histogram(tile, 64, (lo, hi))[0])
    assert counts.sum() == np.count_nonzero((tile >= lo) & (tile <= hi))


def test_values_on_a_bin_edge_move_at_most_to_the_neighbouring_bin() -> None:
    # OpenCV computes the bin in its own floating point: a value within rounding of an
    # edge may land on the other side of it (never further, never lost).
    tile = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    edges = np.linspace(0.0, 1.0, 65).astype(np.float32)
    tile.ravel()[: edges.size] = edges
    ours, numpys = histogram(tile, 64, 0.0, 1.0), np.histogram(tile, 64, (0.0, 1.0))[0]
    assert ours.sum() == numpys.sum()
    assert np.abs(np.cumsum(ours) - np.cumsum(numpys)).max() <= edges.size
