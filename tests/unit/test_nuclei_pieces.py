"""The fluorescence path's pieces: same answers as the plain versions, and the size
estimate and giant check under noise and fibres (generated images only)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from chalicelib.cells.counting import count_cells
from chalicelib.cells.nuclei import _closed_shapes, _component, _peak_centres
from chalicelib.cells.objects import (
    _neighbour_pairs,
    disk,
    grow_labels,
    label_areas,
    merge_pairs,
    merge_table,
    open_disk,
    quantile,
    shapes,
    tile_map,
    tile_quantile,
    to_full_resolution,
)
from chalicelib.cells.scale import (
    LEVELS,
    SCALE_STEP,
    blob_scales,
    measure_white_noise_ratios,
    outermost,
    robust_sd,
    typical_radius,
    white_noise_ratios,
)


@pytest.mark.parametrize("seed", range(6))
def test_quantiles_near_either_end_are_the_partitions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(4096, 120_000))
    values = rng.normal(size=size).astype(np.float32)
    if seed % 3 == 1:
        values = np.round(values * 4)  # many ties
    if seed % 3 == 2:
        values[:: int(rng.integers(3, 50))] = np.nan  # NaNs go last, as in a partition
    tile = values[: size // 2 * 2].reshape(2, -1)[:, ::2]  # a strided view
    for q in (0.0, 0.0005, 0.005, 0.05, 0.5, 0.9, 0.995, 0.999, 1.0):
        for v in (values, tile):
            flat = v.ravel()
            k = min(flat.size - 1, max(0, round(q * (flat.size - 1))))
            expected = float(np.partition(flat, k)[k])
            assert quantile(v, q) == expected or (np.isnan(expected) and np.isnan(quantile(v, q)))


@pytest.mark.parametrize("top", [0, 7, 5000, 70_000])
def test_label_areas_are_the_bincount(top: int) -> None:
    rng = np.random.default_rng(top)
    labels = (rng.integers(0, top + 1, (90, 110)) * (rng.random((90, 110)) < 0.5)).astype(np.int32)
    for count in (0, max(0, top - 3), top, top + 5):
        expected = np.bincount(labels.ravel(), minlength=count + 1)[: count + 1]
        assert label_areas(labels, count).tolist() == expected.tolist()


def random_labels(seed: int, shape: tuple[int, int] = (60, 70)) -> np.ndarray:
    """Overlapping rectangles with holes: touching objects and one-pixel gaps."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    for label in range(1, 25):
        y, x = int(rng.integers(0, shape[0])), int(rng.integers(0, shape[1]))
        labels[max(0, y - 5) : y + 5, max(0, x - 6) : x + 6] = label
    labels[rng.random(shape) < 0.1] = 0
    return labels


@pytest.mark.parametrize("shape", [(182, 182), (143, 150), (97, 300), (40, 40), (700, 1000)])
@pytest.mark.parametrize("radius", [2.0, 5.0, 7.0])
def test_tile_quantiles_equal_the_per_tile_quantiles(shape: tuple[int, int], radius: float) -> None:
    image = np.random.default_rng(1).normal(0, 1, shape).astype(np.float32)
    for q in (0.25, 0.5):
        expected = tile_map(image, lambda t, q=q: 2.0 * quantile(t, q) + 0.5, radius, floor=0.01)
        found = tile_quantile(image, q, radius, floor=0.01, gain=2.0, offset=0.5)
        assert np.array_equal(found, expected)


@pytest.mark.parametrize("seed", range(5))
def test_neighbour_pairs_are_every_touching_or_one_gap_pair(seed: int) -> None:
    labels = random_labels(seed)
    relief = np.random.default_rng(seed).random(labels.shape).astype(np.float32)
    expected = set()
    height, width = labels.shape
    for y in range(height):
        for x in range(width):
            for dy, dx in ((1, 0), (0, 1), (2, 0), (0, 2)):
                if y + dy >= height or x + dx >= width:
                    continue
                a, b = int(labels[y, x]), int(labels[y + dy, x + dx])
                middle = labels[y + dy // 2, x + dx // 2] if 2 in (dy, dx) else 0
                if a and b and a != b and middle == 0:
                    crossing = min(relief[y, x], relief[y + dy, x + dx])
                    if 2 in (dy, dx):
                        crossing = min(crossing, relief[y + dy // 2, x + dx // 2])
                    expected.add((min(a, b), max(a, b), float(crossing)))
    found = {
        (int(a), int(b), float(h))
        for first, second, height_ in _neighbour_pairs(labels, relief)
        for a, b, h in zip(first, second, height_, strict=True)
    }
    assert found == expected


def test_merge_table_joins_pairs_while_the_join_stays_small() -> None:
    labels = np.array([[1, 1, 2, 0, 3, 3, 3, 4]], np.int32)
    pairs = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 0.0], [2.0, 3.0, 0.0]])
    assert merge_pairs(labels, pairs).tolist() == [[1, 1, 1, 0, 1, 1, 1, 1]]
    # At most 4 pixels per object: 1+2 (3 px) and 3+4 (4 px) join, the two groups do not.
    assert merge_pairs(labels, pairs, max_area=4).tolist() == [[1, 1, 1, 0, 2, 2, 2, 2]]
    area = np.bincount(labels.ravel())
    assert np.take(merge_table(pairs, area, 4), labels).tolist() == [[1, 1, 1, 0, 2, 2, 2, 2]]


def test_flat_topped_maxima_give_one_seed_each() -> None:
    peaks = np.zeros((20, 20), bool)
    peaks[3, 3] = True  # a single-pixel maximum
    peaks[10:12, 10:13] = True  # a clipped, flat top: one seed at its centre
    peaks[17, 0] = peaks[16, 19] = True  # not neighbours across the row wrap
    centres = sorted(map(tuple, _peak_centres(peaks).tolist()))
    assert centres == [(3, 3), (10, 11), (16, 19), (17, 0)]


def test_labels_brought_to_full_size_follow_the_smooth_edge() -> None:
    small = np.zeros((40, 40), np.int32)
    cv2.circle(small, (20, 20), 8, 1, -1)
    cv2.circle(small, (31, 20), 3, 2, -1)
    grown = grow_labels(small)
    assert grown[20, 29] == 2 and grown[20, 12] == 1 and grown[0, 0] == 0
    yy, xx = np.mgrid[0:40, 0:40].astype(np.float32)
    soft = 9.0 - np.hypot(yy - 20, xx - 20)  # a disc of radius 9 px
    full = to_full_resolution(small, soft, (160, 160))
    area = float((full > 0).sum()) / 16  # in working pixels
    assert abs(area - np.pi * 9**2) < 0.1 * np.pi * 9**2


@pytest.mark.parametrize("offset", [0, 2**16 - 40, 2**16])  # 16-bit labels, and beyond
def test_full_size_labels_are_the_nearest_grown_label_inside_the_smooth_edge(offset: int) -> None:
    rng = np.random.default_rng(3)
    small = rng.integers(0, 40, (37, 53)).astype(np.int32)
    small[small > 0] += offset
    small[rng.random(small.shape) < 0.4] = 0
    soft = rng.normal(size=small.shape).astype(np.float32)
    full = to_full_resolution(small, soft, (151, 200))
    nearest = cv2.resize(grow_labels(small), (200, 151), interpolation=cv2.INTER_NEAREST)
    inside = cv2.resize(soft, (200, 151), interpolation=cv2.INTER_LINEAR) > 0
    assert full.dtype == np.int32
    assert np.array_equal(full, np.where(inside, nearest, 0))


def test_coarse_layers_carry_less_white_noise() -> None:
    ratios = white_noise_ratios()
    assert ratios[0, 0] == 1.0
    assert np.all(np.diff(ratios[:, 0]) < 0)  # each octave quieter than the last
    assert np.all(np.diff(ratios[0]) < 0)  # and each layer than the finer one


def test_the_white_noise_table_is_what_the_pyramid_measures() -> None:
    np.testing.assert_allclose(white_noise_ratios(), measure_white_noise_ratios(), rtol=1e-12)


@pytest.mark.parametrize("noise", [0.15, 0.25, 0.35])
def test_nucleus_size_is_found_under_heavy_pixel_noise(noise: float) -> None:
    rng = np.random.default_rng(3)
    image = np.zeros((256, 256), np.float32)
    for y in range(20, 256, 36):
        for x in range(20, 256, 36):
            centre = (x + int(rng.integers(-4, 5)), y + int(rng.integers(-4, 5)))
            cv2.circle(image, centre, 7, 1.0, -1)
    image = cv2.GaussianBlur(image, (0, 0), 1.0)
    image += rng.normal(0, noise, image.shape).astype(np.float32)
    found = typical_radius(image)
    assert found is not None
    assert 0.75 * 7 <= found[0] <= 1.3 * 7


def test_fibres_do_not_make_the_nuclei_look_like_texture() -> None:
    # 25 nuclei and three long fibres: the fibres are flagged, the nuclei's size kept.
    rng = np.random.default_rng(5)
    image = np.zeros((256, 256), np.float32)
    for y in range(80, 180, 20):
        for x in range(80, 180, 20):
            centre = (x + int(rng.integers(-2, 3)), y + int(rng.integers(-2, 3)))
            cv2.circle(image, centre, 6, float(rng.uniform(0.5, 1.0)), -1)
    for start, end in (((10, 20), (246, 24)), ((10, 236), (246, 230)), ((20, 40), (24, 216))):
        cv2.line(image, start, end, 0.9, 5)
    image = cv2.GaussianBlur(image, (0, 0), 1.0)
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    counted = count_cells(np.clip(image * 200 + 10, 0, 255).astype(np.uint8))
    assert counted.count == 25
    assert len(counted.flagged) == 3
    assert 10 <= counted.parameters["estimated_diameter"] <= 16


def test_elongated_nuclei_side_by_side_are_parted() -> None:
    # 30 pairs of elongated nuclei (26 x 12 px) touching along their long sides: the blob
    # search sees the pairs (ambiguous size); seeds at the objects' inscribed radius part them.
    rng = np.random.default_rng(2)
    image = np.zeros((320, 320), np.float32)
    for y in range(30, 300, 45):
        for x in range(30, 300, 60):
            angle, brightness = float(rng.uniform(0, 180)), float(rng.uniform(0.5, 1.0))
            dx, dy = 7 * np.cos(np.radians(angle + 90)), 7 * np.sin(np.radians(angle + 90))
            for side, level in ((-1, 0.9), (1, 1.0)):
                centre = (int(x + side * dx), int(y + side * dy))
                cv2.ellipse(image, centre, (13, 6), angle, 0, 360, brightness * level, -1)
    image = cv2.GaussianBlur(image, (0, 0), 1.5)
    image += rng.normal(0, 0.01, image.shape).astype(np.float32)
    counted = count_cells(np.clip(image * 200 + 10, 0, 255).astype(np.uint8))
    assert counted.count >= 45  # the pairs were one object each before (30)
    assert counted.quality is not None and not counted.quality.reliable  # still says so


@pytest.mark.parametrize(
    ("shape", "radius", "dtype"),
    [
        ((40, 50), 8, np.float32),
        ((128, 96), 16, np.float32),
        ((255, 200), 31, np.float32),
        ((20, 12), 12, np.float32),
        ((1, 60), 9, np.float32),
        ((5, 40), 12, np.float32),
        ((90, 70), 20, np.uint8),
        ((64, 64), 3, np.float32),
    ],
)
def test_disc_opening_row_by_row_equals_opencvs(
    shape: tuple[int, int], radius: int, dtype: type
) -> None:
    rng = np.random.default_rng(radius)
    image = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 1.5)
    image[rng.random(shape) < 0.02] = 5.0  # isolated peaks: the opening must remove them
    if dtype is np.uint8:
        image = (image * 40).astype(np.uint8)
    expected = cv2.morphologyEx(image, cv2.MORPH_OPEN, disk(radius))
    found = open_disk(image, radius)
    assert found.dtype == expected.dtype
    assert np.array_equal(found, expected)


@pytest.mark.parametrize("seed", range(5))
def test_closed_shapes_in_a_box_equal_those_of_the_whole_closed_image(seed: int) -> None:
    labels = random_labels(seed, (90, 100))
    # Labels joined into groups by a table (identity for seed 0): the shapes of the groups.
    count = int(labels.max())
    group_of = np.arange(count + 1, dtype=np.int32)
    if seed:
        group_of[1:] = np.random.default_rng(seed).integers(1, max(2, count // 2), count)
    groups = np.take(group_of, labels)
    big = np.unique(groups)[1:]
    whole = shapes(grow_labels(groups), int(groups.max()), only=big)
    boxed = _closed_shapes(labels, group_of, big)
    assert boxed == [(float(whole.elongation[g]), float(whole.solidity[g])) for g in big]


def test_a_saturated_nucleus_flat_on_top_is_one_seed() -> None:
    # One large nucleus clipped at the 16-bit top, two normal ones: the plateau's ends
    # were two blob maxima, and the two halves too large to be joined again.
    image = np.full((200, 200), 2000.0, np.float32)
    cv2.ellipse(image, (100, 60), (16, 12), 30, 0, 360, 200000.0, -1)
    for centre in ((50, 150), (150, 150), (40, 40)):
        cv2.circle(image, centre, 9, 30000.0, -1)
    image = cv2.GaussianBlur(image, (0, 0), 1.5)
    image += np.random.default_rng(1).normal(0, 300, image.shape).astype(np.float32)
    gray = np.clip(image, 0, 65535).astype(np.uint16)
    assert np.count_nonzero(gray == 65535) > 300
    assert count_cells(gray).count == 4


def test_a_background_rising_to_the_edge_leaves_no_band_of_objects() -> None:
    # 16 nuclei on a background that rises steeply to the right edge: the opening
    # flattened the ramp within its reach of the edge, and the band left there was
    # segmented (a huge object holding the nuclei near that edge).
    rng = np.random.default_rng(3)
    image = np.zeros((256, 256), np.float32)
    for y in range(32, 256, 64):
        for x in range(32, 256, 64):
            cv2.circle(image, (x, y), 7, float(rng.uniform(0.4, 0.6)), -1)
    image = cv2.GaussianBlur(image, (0, 0), 1.5)
    image += np.linspace(0.0, 1.5, 256, dtype=np.float32)[None, :]
    image += rng.normal(0, 0.01, image.shape).astype(np.float32)
    counted = count_cells(np.clip(image * 150 + 5, 0, 255).astype(np.uint8))
    assert counted.count == 16
    assert not counted.flagged


def plain_blob_scales(signal: np.ndarray, min_sigmas: float) -> list[np.ndarray]:
    """The blob pyramid as first written: every layer dilated whole, each octave blurred
    again before halving (the reference for the shared blur and the sparse maxima)."""
    sigmas = SCALE_STEP ** np.arange(LEVELS)
    centres = np.sqrt(sigmas[:-1] * sigmas[1:])
    level, octave, noise = signal.astype(np.float32), 0, 0.0
    out: list[list[np.ndarray]] = [[], [], []]
    while min(level.shape) >= 12:
        blurred = cv2.GaussianBlur(level, (0, 0), 1.0)
        stack = []
        for before, after in itertools.pairwise(sigmas):
            finer = blurred
            blurred = cv2.GaussianBlur(blurred, (0, 0), float(np.sqrt(after**2 - before**2)))
            layer = finer - blurred
            layer *= np.float32(1.0 / (SCALE_STEP - 1))
            stack.append(layer)
        ratio = white_noise_ratios()[min(octave, 4)]
        if octave == 0:
            finest = stack[0][:: max(1, level.shape[0] // 128), :: max(1, level.shape[1] // 128)]
            noise = robust_sd(finest)
        floors = min_sigmas * noise * ratio
        spatial = [cv2.dilate(layer, np.ones((3, 3), np.uint8)) for layer in stack]
        for k in (1, 2):
            low = np.float32(max(0.0, float(floors[k])))
            at = (stack[k] >= spatial[k]) & (stack[k] > low)
            at &= (stack[k] >= spatial[k - 1]) & (stack[k] >= spatial[k + 1])
            rows, cols = np.nonzero(at)
            here, below, above = stack[k][at], stack[k - 1][at], stack[k + 1][at]
            curvature = below - 2 * here + above
            shift = np.where(
                curvature < 0, 0.5 * (below - above) / np.minimum(curvature, -1e-12), 0.0
            )
            out[0].append(centres[k] * SCALE_STEP ** np.clip(shift, -0.5, 0.5) * np.sqrt(2.0))
            out[0][-1] *= 2.0**octave
            out[1].append(here)
            out[2].append((np.stack([cols, rows], axis=1) + 0.5) * 2.0**octave - 0.5)
        level = cv2.resize(
            cv2.GaussianBlur(level, (0, 0), 1.0),
            (level.shape[1] // 2, level.shape[0] // 2),
            interpolation=cv2.INTER_AREA,
        )
        octave += 1
    return [np.concatenate(part) for part in out]


@pytest.mark.parametrize("seed", range(4))
def test_the_blob_pyramid_equals_the_plain_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(12, 200)), int(rng.integers(12, 300)))
    image = np.zeros(shape, np.float32)
    for _ in range(40):
        centre = (int(rng.integers(0, shape[1])), int(rng.integers(0, shape[0])))
        cv2.circle(image, centre, int(rng.integers(1, 12)), float(rng.random()), -1)
    image += rng.normal(0, 0.05, shape).astype(np.float32)
    for min_sigmas in (0.0, 8.0):
        radii, responses, _, points = blob_scales(image, min_sigmas)
        expected = plain_blob_scales(image, min_sigmas)
        # the same maxima, in the same (raster, layer, octave) order
        for found, plain in zip((radii, responses, points), expected, strict=True):
            assert np.array_equal(found, plain)


@pytest.mark.parametrize("seed", range(3))
def test_plateau_statistics_are_opencvs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = (rng.random((80, 120)) < 0.45).astype(np.uint8)
    count, labels, stats, centres = cv2.connectedComponentsWithStats(mask, connectivity=8)
    for k in range(1, count):
        x, y, w, h, area, cx, cy = _component(labels, k)
        assert [x, y, w, h, area] == stats[k].tolist()
        assert (cx, cy) == (centres[k][0], centres[k][1])


def plain_outermost(
    radii: np.ndarray, responses: np.ndarray, points: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """``outermost`` as first written: one blob at a time, NumPy scalars throughout."""
    covered = np.zeros(shape, np.float32)
    keep = np.zeros(radii.size, bool)
    for i in np.argsort(-responses, kind="stable"):
        x = min(max(round(float(points[i, 0])), 0), shape[1] - 1)
        y = min(max(round(float(points[i, 1])), 0), shape[0] - 1)
        if covered[y, x] > radii[i]:
            continue
        keep[i] = True
        cv2.circle(covered, (x, y), max(1, int(1.25 * radii[i])), float(radii[i]), -1)
    return keep


@pytest.mark.parametrize("seed", range(3))
def test_blobs_inside_larger_stronger_ones_are_the_plain_loops(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count = 400
    radii = rng.uniform(0.3, 20, count)
    responses = np.round(rng.random(count), 2)  # ties: the stable order decides
    points = rng.uniform(-3, 130, (count, 2))  # some beyond the edge: clipped
    points[:40] = np.round(points[:40]) + 0.5  # halves: rounded to even
    assert np.array_equal(
        outermost(radii, responses, points, (100, 120)),
        plain_outermost(radii, responses, points, (100, 120)),
    )
