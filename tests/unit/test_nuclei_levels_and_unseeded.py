"""The noise floor follows the levels an image uses (not its dtype), and a strong
nucleus the first flood gave to no object becomes one (issue 12ai)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.nuclei import (
    RECLAIM_SIGMAS,
    UNSEEDED_AREA,
    _add_unseeded,
    segment_nuclei,
    unseeded_summits,
)
from chalicelib.cells.objects import intensity_range, level_step

R = 5.0  # nucleus radius at the working resolution


def _dome(shape: tuple[int, int], centre: tuple[int, int], height: float) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    d2 = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2
    return np.asarray(height * np.clip(1 - d2 / (1.6 * R) ** 2, 0, 1), np.float32)


@pytest.mark.parametrize(
    ("values", "step"),
    [
        (np.arange(256, dtype=np.uint8), 1.0),
        (np.arange(0, 4096, 16, dtype=np.uint16), 16.0),
        (np.arange(0, 65536, 257, dtype=np.uint16), 257.0),
        (np.full(256, 7, np.uint8), 1.0),  # one level: no step to measure
        (np.repeat(np.arange(0, 256, 16, dtype=np.uint8), 16), 1.0),  # 16 levels: a drawing
        (np.linspace(0, 1, 256, dtype=np.float32), 0.0),  # float: no steps
    ],
)
def test_level_step_is_the_step_between_the_levels_used(values: np.ndarray, step: float) -> None:
    assert level_step(values.reshape(16, 16)) == step


def test_level_step_follows_the_pixels_not_a_sparse_tail() -> None:
    # a dense background (every level) with a few bright, sparse pixels
    rng = np.random.default_rng(0)
    image = rng.integers(100, 140, (64, 64)).astype(np.uint16)
    image[::16, ::16] = rng.integers(1000, 4000, image[::16, ::16].shape)
    assert level_step(image) == 1.0


def _dim_nuclei(noise: float, seed: int) -> np.ndarray:
    """Small dim nuclei (radius 4: counted at full size) on a flat dark 8-bit
    background whose noise is under one level."""
    rng = np.random.default_rng(seed)
    image = np.full((120, 160), 8.0, np.float32)
    for k, (x, y) in enumerate(rng.uniform(10, 110, (25, 2))):
        cv2.circle(image, (int(x * 1.3), int(y)), 4, 12.0 + 10 * (k % 5), -1)
    image = cv2.GaussianBlur(image, (0, 0), 1.0) + rng.normal(0, noise, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("noise", "seed"), [(0.2, 1), (0.2, 2), (0.3, 2), (0.5, 2)])
def test_an_8_bit_image_stored_in_16_bits_is_segmented_as_its_8_bit_original(
    noise: float, seed: int
) -> None:
    # the same data, every 16th level of 16 bits (before: the noise floor fell 16-fold,
    # 23 nuclei became 31 for (0.2, 2))
    as_8 = _dim_nuclei(noise, seed)
    as_16 = as_8.astype(np.uint16) * 16
    found_8 = segment_nuclei(as_8, 4.0, 1, intensity_range(as_8))
    found_16 = segment_nuclei(as_16, 4.0, 1, intensity_range(as_16))
    assert found_8.count == found_16.count
    assert np.array_equal(found_8.labels, found_16.labels)


def test_a_strong_summit_no_object_holds_is_found() -> None:
    shape = (40, 60)
    smoothed = np.maximum(_dome(shape, (15, 20), 200.0), _dome(shape, (42, 20), 150.0))
    mask = (smoothed > 3).astype(np.uint8)
    labels = np.zeros(shape, np.int32)
    labels[smoothed[:, :] >= 100.0] = 1
    labels[:, 30:] = 0  # the flood gave the right-hand nucleus to no object
    assert unseeded_summits(labels, mask, smoothed, R, RECLAIM_SIGMAS).tolist() == [[20, 42]]
    weak = smoothed * (0.5 * RECLAIM_SIGMAS / 200.0)  # the same, far under RECLAIM_SIGMAS
    assert unseeded_summits(labels, mask, weak, R, RECLAIM_SIGMAS).tolist() == []


def test_an_unseeded_nucleus_becomes_an_object_a_fragment_does_not() -> None:
    shape = (40, 80)
    nucleus = _dome(shape, (40, 20), 150.0)
    labels = np.zeros(shape, np.int32)
    peak = np.array([0.0], np.float32)
    mask = (nucleus > 3).astype(np.uint8)
    levels = (0.0, R, 0.3, 1.0)
    grown, heights = _add_unseeded(labels, peak, mask, nucleus, levels)
    assert int(grown.max()) == 1 and heights.tolist() == [0.0, 150.0]
    assert (grown == 1).sum() >= UNSEEDED_AREA * np.pi * R * R
    # a fragment under half a nucleus (its half-height dome) stays out
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    fragment = 150.0 * np.clip(1 - ((xx - 40) ** 2 + (yy - 20) ** 2) / 9.0, 0, 1)
    small, _ = _add_unseeded(labels, peak, (fragment > 3).astype(np.uint8), fragment, levels)
    assert int(small.max()) == 0
