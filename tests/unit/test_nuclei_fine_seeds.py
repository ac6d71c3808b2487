"""Seeds at finer blob scales (issue 12f): maxima in space and scale, kept apart from re-joins."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.nuclei import _seeds, _spaced, _without, scale_maxima
from chalicelib.cells.objects import disk

R = 5.0  # nucleus radius at the working resolution


def _gaussians(*blobs: tuple[float, float, float, float]) -> np.ndarray:
    """An image in noise units: Gaussian spots (x, y, sd, height) on zero."""
    yy, xx = np.mgrid[0:60, 0:80].astype(np.float32)
    image = np.zeros(yy.shape, np.float32)
    for x, y, sd, height in blobs:
        image += height * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sd * sd))
    return image


def test_a_lone_nucleus_has_one_seed_and_none_from_a_finer_scale() -> None:
    image = _gaussians((30, 30, 3.5, 100))
    seeds, fine = _seeds(image, image, R, 4.0, 1.0)
    assert seeds.tolist() == [[30, 30]]
    assert len(fine) == 0


def test_a_dimmer_neighbour_the_nucleus_scale_merges_gets_a_seed_of_its_own() -> None:
    # 9 px apart (1.8 r), the dimmer at 0.6 of the brighter: one maximum at the nucleus scale
    image = _gaussians((30, 30, 3.0, 100), (39, 30, 3.0, 60))
    seeds, fine = _seeds(image, image, R, 4.0, 1.0)
    assert len(seeds) == 2 and len(fine) == 1
    assert abs(int(fine[0, 1]) - 39) <= 2 and int(fine[0, 0]) == 30
    assert seeds.tolist() == sorted(seeds.tolist())  # raster order, as the markers are numbered


def test_fine_seeds_need_the_signal_and_their_own_significance() -> None:
    image = _gaussians((30, 30, 3.0, 100), (39, 30, 3.0, 60))
    seeds, fine = _seeds(image * 1e-3, image * 1e-3, R, 4.0, 1.0)  # far under 6 noise sds
    assert len(seeds) == 0 and len(fine) == 0


@pytest.mark.parametrize("rising", [True, False])
def test_a_response_still_rising_towards_finer_scales_is_no_maximum(rising: bool) -> None:
    blob = np.zeros((5, 5), np.float32)
    blob[2, 2] = 3.0
    finer = np.zeros((5, 5), np.float32)
    finer[1, 2] = 4.0 if rising else 2.0
    peaks = scale_maxima(blob, np.array([12]), finer, np.ones((3, 3), np.uint8))
    assert peaks.tolist() == [not rising]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scale_maxima_reads_the_dilated_layer_at_the_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    blob = rng.normal(size=(23, 31)).astype(np.float32)
    other = rng.normal(size=(23, 31)).astype(np.float32)
    footprint = disk(3.0)
    pixels = np.arange(blob.size)
    expected = (blob >= cv2.dilate(other, footprint)).ravel()
    assert scale_maxima(blob, pixels, other, footprint).tolist() == expected.tolist()


def test_spaced_keeps_the_strongest_first_and_clear_of_every_seed() -> None:
    kept = np.array([[10, 10]])
    candidates = [(5.0, 10, 12), (4.0, 20, 20), (3.0, 21, 21), (2.0, 30, 30)]
    assert _spaced(kept, candidates, 3.0).tolist() == [[20, 20], [30, 30]]
    assert _spaced(np.zeros((0, 2), np.int64), [], 3.0).shape == (0, 2)


def test_without_drops_only_the_pairs_of_the_labels_kept_apart() -> None:
    pairs = np.array([[1.0, 2.0, 0.01], [2.0, 3.0, 0.02], [4.0, 5.0, 0.0]])
    assert _without(pairs, np.array([2])).tolist() == [[4.0, 5.0, 0.0]]
    assert _without(pairs, None) is pairs
    assert _without(np.zeros((0, 3)), np.array([1])).shape == (0, 3)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_spaced_gives_what_comparing_every_pair_gives(seed: int) -> None:
    rng = np.random.default_rng(seed)
    kept = rng.integers(0, 60, size=(40, 2))
    points = rng.integers(0, 60, (80, 2))
    candidates = [(float(s), int(y), int(x)) for s, (y, x) in enumerate(points)]
    candidates.sort(reverse=True)
    distance = float(rng.uniform(0.5, 6.0))
    chosen = [tuple(p) for p in kept.tolist()]
    expected = []
    for _s, y, x in candidates:
        if all((y - a) ** 2 + (x - b) ** 2 >= distance**2 for a, b in chosen):
            chosen.append((y, x))
            expected.append([y, x])
    assert _spaced(kept, candidates, distance).tolist() == expected
