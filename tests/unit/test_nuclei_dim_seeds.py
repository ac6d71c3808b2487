"""Seeds for nuclei far dimmer than the neighbour they touch (issue 12ab): blob maxima of
the log signal that no trimmed object keeps, on a compact dome of their own."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells import nuclei
from chalicelib.cells.nuclei import dim_candidates, nearest_points, unclaimed_domes
from chalicelib.cells.segmentation import segment

R = 5.0  # nucleus radius at the working resolution
SHAPE = (40, 70)


def _domes(*domes: tuple[float, float, float, float]) -> np.ndarray:
    """An image in noise units: domes (x, y, radius, height) on zero, the brightest on top,
    blurred a little (a microscope's spot)."""
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype(np.float32)
    image = np.zeros(SHAPE, np.float32)
    for x, y, radius, height in domes:
        d2 = ((xx - x) ** 2 + (yy - y) ** 2) / (radius * radius)
        image = np.maximum(image, height * np.sqrt(np.clip(1 - d2, 0, 1)))
    return np.asarray(cv2.GaussianBlur(image, (0, 0), 1.0))


@pytest.mark.parametrize("ratio", [0.1, 0.2, 0.35])
def test_a_dim_nucleus_on_a_bright_ones_flank_is_a_candidate(ratio: float) -> None:
    image = _domes((25, 20, R, 200), (34, 20, R, 200 * ratio))  # 1.8 r apart
    found = dim_candidates(image, image, R, np.array([[20, 25]]), 4.0)
    assert len(found) == 1
    assert int(found[0, 0]) == 20 and 33 <= int(found[0, 1]) <= 38


def test_a_lone_nucleus_and_a_neighbour_as_bright_give_no_candidate() -> None:
    image = _domes((25, 20, R, 200))
    assert len(dim_candidates(image, image, R, np.array([[20, 25]]), 4.0)) == 0
    pair = _domes((25, 20, R, 200), (34, 20, R, 160))  # over half as bright: the seeds' business
    assert len(dim_candidates(pair, pair, R, np.array([[20, 25]]), 4.0)) == 0


def test_candidates_need_the_signal_and_stay_off_the_edge() -> None:
    image = _domes((25, 20, R, 200), (34, 20, R, 30))
    seeds = np.array([[20, 25]])
    assert len(dim_candidates(image, image, R, seeds, floor=40.0)) == 0  # under the floor
    assert len(dim_candidates(image, image, R, np.zeros((0, 2), np.int64), 4.0)) == 0
    edge = _domes((25, 20, R, 200), (34, 1, R, 30))  # cut by the top edge
    assert all(int(y) >= 3 for y, _x in dim_candidates(edge, edge, R, seeds, 4.0))


def _unclaimed(image: np.ndarray, labels: np.ndarray, point: tuple[int, int]) -> list[list[int]]:
    mask = (image > 3).astype(np.uint8)
    found, _domes = unclaimed_domes(np.array([point]), labels, mask, image, 0.0, R, 0.5)
    return list(found.tolist())


def test_a_dome_no_object_keeps_is_kept_and_one_an_object_keeps_is_not() -> None:
    image = _domes((25, 20, R, 200), (34, 20, R, 30))
    labels = np.where(image >= 100, 1, 0).astype(np.int32)  # the bright one at half its peak
    assert _unclaimed(image, labels, (20, 35)) == [[20, 35]]
    labels[image > 3] = 1  # everything kept by one object
    assert _unclaimed(image, labels, (20, 35)) == []


def test_a_haze_and_a_strip_are_not_domes_of_their_own() -> None:
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype(np.float32)
    haze = np.asarray(30 * np.exp(-((xx - 35) ** 2 + (yy - 20) ** 2) / (2 * 15.0**2)), np.float32)
    labels = np.zeros(SHAPE, np.int32)
    assert _unclaimed(haze, labels, (20, 35)) == []  # runs on beyond 1.5 r
    strip = np.zeros(SHAPE, np.float32)
    strip[19:22, 25:45] = 30.0  # 20 px long, 3 wide
    assert _unclaimed(strip, labels, (20, 35)) == []


def _field(ratio: float | None) -> np.ndarray:
    """Lone nuclei (radius 7 px, 8 bit, noise sd 2) and a bright one at (60, 85); with
    ``ratio``, a nucleus that much as bright touching it on its right (centres 12 px apart)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:120, 0:160].astype(np.float32)
    raw = np.zeros(yy.shape, np.float32)

    def dome(x: float, y: float, height: float) -> np.ndarray:
        d2 = ((xx - x) ** 2 + (yy - y) ** 2) / 49.0
        return np.asarray(height * np.sqrt(np.clip(1 - d2, 0, 1)), np.float32)

    for x, y in ((25, 25), (70, 25), (120, 25), (25, 95), (135, 95), (60, 85)):
        raw = np.maximum(raw, dome(x, y, 200.0))
    if ratio is not None:
        raw = np.maximum(raw, dome(72, 85, 200.0 * ratio))
    image = cv2.GaussianBlur(raw, (0, 0), 1.5) + 10 + rng.normal(0, 2.0, raw.shape)
    return np.asarray(np.clip(image, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("ratio", [0.15, 0.3])
def test_segment_counts_a_dim_nucleus_beside_a_bright_one(
    ratio: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nuclei, "DIM_SEEDS", True)
    assert segment(_field(None)).count == 6
    assert segment(_field(ratio)).count == 7


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_points_agrees_with_all_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (37, 53)
    flat = rng.choice(shape[0] * shape[1], 40, replace=False)
    points = np.stack(np.divmod(flat, shape[1]), axis=1)
    queries = np.stack([rng.integers(0, shape[0], 25), rng.integers(0, shape[1], 25)], axis=1)
    index, distance = nearest_points(shape, points, queries)
    exact = np.hypot(*(queries[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    assert np.allclose(distance, exact.min(axis=1), rtol=0.03, atol=0.05)
    # the point named is a nearest one (up to the transform's 2 % on ties)
    assert np.all(exact[np.arange(len(queries)), index] <= exact.min(axis=1) * 1.03 + 0.05)
