"""The density model's training views (devtools.phase_training.training_views): the gamma view
of issue-12q keeps the crop's dtype, ends and order of values, and its points."""

from __future__ import annotations

import numpy as np
import pytest

from devtools import phase_training


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("power", [0.5, 1.0, 2.0])
def test_a_gamma_view_keeps_the_ends_and_the_order(dtype: type, power: float) -> None:
    top = np.iinfo(dtype).max
    gray = np.linspace(0, top, 64).astype(dtype).reshape(8, 8)
    adjusted = phase_training.gamma_adjusted(gray, power)
    assert adjusted.dtype == gray.dtype
    assert adjusted.min() == 0 and adjusted.max() == top
    assert np.all(np.diff(adjusted.ravel().astype(np.int64)) >= 0)
    if power == 1.0:
        assert np.array_equal(adjusted, gray)


def test_a_power_above_one_darkens_the_middle_tones() -> None:
    gray = np.full((4, 4), 128, np.uint8)
    assert int(phase_training.gamma_adjusted(gray, 2.0)[0, 0]) == 64
    assert int(phase_training.gamma_adjusted(gray, 0.5)[0, 0]) == 181


def test_every_view_keeps_its_crop_and_the_gamma_is_seeded_by_the_name() -> None:
    gray = (np.random.default_rng(0).random((60, 80)) * 200 + 20).astype(np.uint8)
    points = np.array([[10.0, 20.0], [50.0, 40.0]])
    crop = phase_training.Crop("any", gray, points, 2, 2)
    views = phase_training.training_views(crop)
    assert len(views) == 1 + 2 * len(phase_training.STRETCHES) + 2  # light and gamma views
    *_, (lit, lit_points), (gamma, gamma_points) = views
    assert gamma.shape == gray.shape and np.array_equal(gamma_points, points)
    assert lit.shape == gray.shape and np.array_equal(lit_points, points)
    again = phase_training.training_views(phase_training.Crop("any", gray, points, 2, 2))
    assert np.array_equal(again[-1][0], gamma)
    other = phase_training.training_views(phase_training.Crop("other", gray, points, 2, 2))
    assert not np.array_equal(other[-1][0], gamma)
