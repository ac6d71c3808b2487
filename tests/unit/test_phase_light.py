"""Phase contrast: the smooth light is divided out before the median background (issue-12ad).

A ramp or a fall-off of the light over the whole field is a polynomial surface fitted on the
background's flat pixels; the cells (textured, dark bodies and bright halos) do not pull it,
even where they cover most of the field."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells import phase

SIZE = (120, 160)  # working px (rows, columns): a field of ~12 x 16 cells


def _field(cells: int, seed: int = 0) -> np.ndarray:
    """A flat background of 100 with ``cells`` phase-like cells (a dark body in a bright
    halo, ~10 working px across) at random places, and a little grain."""
    rng = np.random.default_rng(seed)
    image = np.full(SIZE, 100.0, np.float32)
    for _ in range(cells):
        x, y = int(rng.integers(6, SIZE[1] - 6)), int(rng.integers(6, SIZE[0] - 6))
        cv2.circle(image, (x, y), 6, 130.0, -1)
        cv2.circle(image, (x, y), 4, 60.0, -1)
    return np.asarray(image + rng.normal(0, 1.0, SIZE).astype(np.float32), np.float32)


def _vignette(shape: tuple[int, ...], strength: float = 0.6) -> np.ndarray:
    """The bench's fall-off: 1 in the middle, ``1 - strength`` in the corners."""
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
    return np.asarray(1 - strength * np.clip(r2 / 2, 0, 1), np.float32)


def _ramp(shape: tuple[int, ...]) -> np.ndarray:
    return np.linspace(0.4, 1.0, shape[1], dtype=np.float32)[None, :].repeat(shape[0], 0)


@pytest.mark.parametrize("cells", [0, 40, 200])
@pytest.mark.parametrize("light", [_vignette, _ramp])
def test_the_light_is_found_under_sparse_and_crowded_cells(cells: int, light: object) -> None:
    """The surface follows the light to within a few percent everywhere, with no cell, a
    sparse field and one the cells mostly cover."""
    assert callable(light)
    shape = light(SIZE)
    found = phase.light_field(_field(cells) * shape)
    relative = found / shape
    assert float(np.max(np.abs(relative / np.median(relative) - 1))) < 0.05


def test_an_evenly_lit_field_is_left_as_it_is() -> None:
    found = phase.light_field(_field(40))
    assert float(np.max(np.abs(found - 1))) < 0.02


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 5)])
def test_a_field_too_small_to_fit_is_not_changed(shape: tuple[int, int]) -> None:
    found = phase.light_field(np.full(shape, 7.0, np.float32))
    assert found.shape == shape and np.all(found == 1)


def test_the_contrast_under_a_vignette_is_the_contrast_as_lit_evenly() -> None:
    """The contrast (scaled to its typical value) of a vignetted field is the evenly lit
    one's, where the median background alone leaves the fall-off's curvature in it."""
    field = _field(60, seed=3)
    even = phase.contrast(np.clip(field, 0, 255).astype(np.uint8), 1.0)
    dimmed = np.clip(field * _vignette(SIZE), 0, 255).astype(np.uint8)
    vignetted = phase.contrast(dimmed, 1.0)
    background = cv2.GaussianBlur(np.abs(even), (0, 0), 3) < phase.TYPICAL_CONTRAST
    offset = np.abs(vignetted - even)[background]
    assert float(np.percentile(offset, 95)) < 2 * phase.TYPICAL_CONTRAST


@pytest.mark.parametrize("seed", range(12))
def test_median_is_numpys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 400)) if seed % 2 else int(rng.integers(1 << 16, 200_000))
    values = rng.standard_normal(size) * 10 ** rng.uniform(-8, 8)
    if seed % 3 == 1:
        values = np.round(values, 1)  # ties
    if seed % 3 == 2:
        values = np.sort(values)  # the bracket's sample from sorted values
    assert phase.median(values) == float(np.median(values))
    values[int(rng.integers(0, size))] = np.nan
    assert np.isnan(phase.median(values))


def test_median_of_a_two_valued_large_array() -> None:
    values = np.full(70_001, 2.5)
    values[:35_000] = 1.0  # the middle value sits at the edge of the bracket
    assert phase.median(values) == float(np.median(values)) == 2.5
    assert phase.median(values[:-1]) == float(np.median(values[:-1])) == 1.75
    assert phase.median(values.astype(np.float32)) == float(np.median(values.astype(np.float32)))


def test_light_terms_are_the_polynomial_terms() -> None:
    terms = phase._light_terms(5, 3)
    assert terms.shape == (15, len(phase._light_powers())) and not terms.flags.writeable
    u, v = phase._unit_coordinates(5), phase._unit_coordinates(3)
    for column, (i, j) in enumerate(phase._light_powers()):
        assert np.array_equal(terms[:, column], np.outer(v**j, u**i).ravel())
