"""Objects made of two nuclei joined at a neck are cut there; single nuclei are not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.necks import (
    INNER_LEVELS,
    INNER_NECK,
    INNER_SIGMA,
    INNER_THICKNESS,
    MIN_PART,
    MIN_THICKNESS,
    OBJECT_TO_NUCLEUS,
    _connected,
    _maxima_points,
    _split,
    _split_inside,
    _thick_maxima,
    split_necks,
)


def scene(pair_gap: int, flagged: bool = False) -> tuple[np.ndarray, int]:
    """Four round objects (labels 1-4) and a fifth: two discs ``pair_gap`` apart
    (label 5), optionally one flagged object (label 6)."""
    labels = np.zeros((80, 260), np.int32)
    for i, x in enumerate((20, 60, 100, 140), start=1):
        cv2.circle(labels, (x, 25), 12, i, -1)
    cv2.circle(labels, (190, 25), 13, 5, -1)
    cv2.circle(labels, (190 + pair_gap, 25), 12, 5, -1)
    if flagged:
        cv2.rectangle(labels, (10, 55), (200, 60), 6, -1)
    return labels, 5


def test_two_overlapping_discs_become_two_objects() -> None:
    labels, count = scene(22)
    gray = (labels > 0).astype(np.uint8) * 100
    out, found = split_necks(labels.copy(), count, gray)
    assert found == 6
    assert np.array_equal(out > 0, labels > 0)  # no pixel lost or added
    assert np.array_equal(out[labels < 5], labels[labels < 5])  # the others untouched
    left, right = out[25, 185], out[25, 217]
    assert {int(left), int(right)} == {5, 6}


def test_a_long_convex_nucleus_and_a_wide_overlap_stay_whole() -> None:
    labels, count = scene(8)  # centres 8 px apart: no neck left
    gray = (labels > 0).astype(np.uint8) * 100
    assert split_necks(labels, count, gray)[1] == count
    ellipse = np.zeros_like(labels)
    for i, x in enumerate((20, 60, 100, 140), start=1):
        cv2.circle(ellipse, (x, 25), 12, i, -1)
    cv2.ellipse(ellipse, (200, 25), (30, 13), 0, 0, 360, 5, -1)
    assert split_necks(ellipse, 5, (ellipse > 0).astype(np.uint8) * 100)[1] == 5


def test_flagged_objects_move_up_behind_the_new_parts() -> None:
    labels, count = scene(22, flagged=True)
    flagged = labels == 6
    out, found = split_necks(labels.copy(), count, (labels > 0).astype(np.uint8) * 100)
    assert found == 6
    assert set(np.unique(out[flagged]).tolist()) == {7}


def test_a_saturated_object_is_left_whole() -> None:
    labels, count = scene(22)
    gray = (labels > 0).astype(np.uint8) * 100
    gray[labels == 5] = 255  # clipped at the top of 8 bits
    assert split_necks(labels, count, gray)[1] == count


def test_objects_are_found_on_coarse_labels_and_cut_at_full_resolution() -> None:
    labels, count = scene(22)
    gray = (labels > 0).astype(np.uint8) * 100
    coarse = cv2.resize(labels, (130, 40), interpolation=cv2.INTER_NEAREST)
    out, found = split_necks(labels.copy(), count, gray, coarse)
    direct, _ = split_necks(labels.copy(), count, gray)
    assert found == 6 and np.array_equal(out, direct)


def test_too_few_objects_to_know_a_typical_size() -> None:
    labels = np.zeros((40, 80), np.int32)
    cv2.circle(labels, (22, 20), 13, 1, -1)
    cv2.circle(labels, (46, 20), 12, 1, -1)
    assert split_necks(labels, 1, (labels > 0).astype(np.uint8))[1] == 1


def domes(centres: list[tuple[float, float, float]], shape: tuple[int, int]) -> np.ndarray:
    """Gaussian nuclei (x, y, brightness), sigma 4.5 px: dome-shaped, as imaged."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    image = np.zeros(shape)
    for cx, cy, brightness in centres:
        image += brightness * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 4.5**2))
    return image


def dome_scene(second: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Four single nuclei and one object holding a nucleus at (200, 25) and ``second``;
    labels: the nuclei's extent above 0.2, one label per object."""
    nuclei = [(25.0, 25.0, 1.0), (65.0, 25.0, 1.0), (105.0, 25.0, 1.0), (145.0, 25.0, 1.0)]
    image = domes([*nuclei, (200.0, 25.0, 1.0), second], (50, 250))
    labels = np.zeros(image.shape, np.int32)
    for i, (cx, _cy, _b) in enumerate(nuclei, start=1):
        labels[:, int(cx) - 20 : int(cx) + 20][image[:, int(cx) - 20 : int(cx) + 20] > 0.2] = i
    labels[:, 175:][image[:, 175:] > 0.2] = 5
    return labels, np.round(image * 150).astype(np.uint8)


def test_touching_nuclei_without_a_neck_on_the_outline_are_split_inside() -> None:
    # A dimmer nucleus 14 px beside a bright one: one outline, no neck on it (the blur
    # fills it), a neck between the brighter parts.
    labels, gray = dome_scene((214.0, 25.0, 0.7))
    whole = (labels == 5).astype(np.uint8)
    typical = float(np.median(np.bincount(labels.ravel())[1:]))
    radius = float(np.sqrt(typical / np.pi))
    assert _split(whole, MIN_PART * typical, MIN_THICKNESS * radius) is None
    out, found = split_necks(labels.copy(), 4 + 1, gray)
    assert found == 6
    assert np.array_equal(out > 0, labels > 0)
    assert {int(out[25, 198]), int(out[25, 217])} == {5, 6}


def test_an_inverted_pair_is_split_with_its_polarity() -> None:
    labels, gray = dome_scene((214.0, 25.0, 0.7))
    inverted = (255 - gray).astype(np.uint8)
    assert split_necks(labels.copy(), 5, inverted, polarity=-1)[1] == 6
    # Taken the wrong way round, the object's brighter parts are its rim: no cut.
    assert split_necks(labels.copy(), 5, inverted)[1] == 5


def test_one_elongated_nucleus_stays_whole_inside_too() -> None:
    # The same extent as a pair, but one nucleus: an elliptical dome, no neck at any level.
    labels, _ = dome_scene((214.0, 25.0, 0.0))
    y, x = np.mgrid[0:50, 0:250].astype(np.float64)
    image = domes(
        [(25.0, 25.0, 1.0), (65.0, 25.0, 1.0), (105.0, 25.0, 1.0), (145.0, 25.0, 1.0)], (50, 250)
    )
    image += np.exp(-((x - 207.0) ** 2 / (2 * 8.0**2) + (y - 25) ** 2 / (2 * 4.5**2)))
    labels[:, 175:] = np.where(image[:, 175:] > 0.2, 5, 0)
    gray = np.round(image * 150).astype(np.uint8)
    assert split_necks(labels, 5, gray)[1] == 5


@pytest.mark.parametrize("seed", range(6))
def test_the_stacked_levels_cut_as_each_level_alone_would(seed: int) -> None:
    """``_split_inside`` takes one distance transform of all levels and examines only
    levels with two maxima apart: the same parts as cutting level by level."""
    rng = np.random.default_rng(seed)
    centres = [
        (float(rng.uniform(15, 45)), float(rng.uniform(15, 45)), float(rng.uniform(0.4, 1.0)))
        for _ in range(int(rng.integers(2, 5)))
    ]
    image = domes(centres, (60, 60)) + rng.normal(0, 0.02, (60, 60))
    mask = image > 0.2
    typical, radius = 150.0, 6.9
    fast = _split_inside(mask, image, 1, typical, radius)
    smoothed = cv2.GaussianBlur(
        image.astype(np.float32), (0, 0), max(0.7, INNER_SIGMA * radius / OBJECT_TO_NUCLEUS)
    )
    low, high = float(smoothed[mask].min()), float(smoothed[mask].max())
    slow = None
    for share in INNER_LEVELS:
        level = mask & (smoothed >= np.float32(low) + np.float32(high - low) * np.float32(share))
        thick = max(2.0, INNER_THICKNESS * radius)
        slow = _split(level.astype(np.uint8), MIN_PART * typical, thick, INNER_NECK, within=mask)
        if slow is not None:
            break
    assert (fast is None) == (slow is None)
    if fast is not None and slow is not None:
        assert np.array_equal(fast, slow)


def ellipses_distance(
    rng: np.random.Generator,
    shape: tuple[int, int],
    margin: int,
    count: tuple[int, int],
    axes: tuple[int, int],
) -> np.ndarray:
    """The distance transform (padded by one pixel) of a few random filled ellipses:
    ``count`` and ``axes`` are half-open ranges, centres ``margin`` from the edges."""
    height, width = shape
    mask = np.zeros(shape, np.uint8)
    for _ in range(int(rng.integers(*count))):
        centre = (
            int(rng.integers(margin, width - margin)),
            int(rng.integers(margin, height - margin)),
        )
        sides = (int(rng.integers(*axes)), int(rng.integers(*axes)))
        cv2.ellipse(mask, centre, sides, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return np.asarray(cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 5))


@pytest.mark.parametrize("seed", range(20))
def test_each_maximum_is_flat_so_any_pixel_gives_its_height(seed: int) -> None:
    """``_maxima_points`` reads one pixel per maximum: the heights are the maxima's
    largest distances (as ``np.maximum.at`` finds them) and each pixel is its own."""
    distance = ellipses_distance(np.random.default_rng(seed), (70, 90), 10, (2, 7), (4, 16))
    maxima, count, found = _thick_maxima(distance, 2.0)
    peaks = np.asarray(found, np.int32)
    height, where = _maxima_points(distance, maxima, peaks, count)
    expected = np.zeros(count)
    np.maximum.at(expected, peaks[maxima], distance[maxima])
    assert np.array_equal(height, expected)
    assert where.shape == (count - 1, 2)
    for label, (y, x) in enumerate(where.tolist(), start=1):
        assert peaks[y, x] == label and maxima[y, x]


@pytest.mark.parametrize("seed", range(20))
def test_the_straight_line_shortcut_answers_as_the_components_do(seed: int) -> None:
    """``_connected`` tries the straight line before labelling: the same answer as
    labelling the components, for every pair of points and level."""
    rng = np.random.default_rng(seed)
    distance = ellipses_distance(rng, (40, 50), 5, (1, 5), (3, 14))
    inside = np.argwhere(distance > 0)
    for _ in range(40):
        a, b = inside[rng.integers(len(inside), size=2)]
        level = float(rng.uniform(0.5, 1.0)) * float(min(distance[tuple(a)], distance[tuple(b)]))
        parts = cv2.connectedComponents((distance >= level).astype(np.uint8), connectivity=8)[1]
        expected = bool(parts[tuple(a)] == parts[tuple(b)])
        assert _connected(distance, level, tuple(a.tolist()), tuple(b.tolist())) == expected
