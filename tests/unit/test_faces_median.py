"""The flow's median displacement: ``median_rows`` is ``np.median(axis=0)``, value for value."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.faces.tracking import median_rows


@pytest.mark.parametrize("seed", range(6))
def test_median_rows_equals_numpy_median(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(400):
        count = int(rng.integers(1, 120))
        values = (rng.normal(size=(count, 2)) * rng.choice([0.3, 5.0, 40.0])).astype(np.float32)
        if rng.random() < 0.3:  # ties: displacements on a coarse grid
            values = np.round(values * 4) / 4
        expected = np.median(values, axis=0)
        got = median_rows(values)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


def test_median_rows_keeps_numpys_rule_for_nan() -> None:
    values = np.array([[1.0, 2.0], [np.nan, 3.0], [0.0, 1.0]], np.float32)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(median_rows(values), np.median(values, axis=0))
