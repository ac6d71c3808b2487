"""Runs of one label (``objects.row_runs``), exact sums over them (``objects.run_sums``) and
nearest enlargement by rows (``objects.resize_nearest``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.objects import resize_nearest, row_runs, run_sums


def reference_runs(labels: np.ndarray) -> tuple[list[int], list[int]]:
    starts, values = [], []
    for r, row in enumerate(labels):
        for c, value in enumerate(row):
            if c == 0 or value != row[c - 1]:
                starts.append(r * labels.shape[1] + c)
                values.append(int(value))
    return starts, values


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (5, 9), (13, 4)])
def test_row_runs_match_a_pixel_by_pixel_walk(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for labels in (
        rng.integers(0, 3, shape).astype(np.int32),
        np.full(shape, 2, np.int32),  # one value throughout: one run per row
    ):
        starts, values = row_runs(labels)
        assert (starts.tolist(), values.tolist()) == reference_runs(labels)


def test_row_runs_of_an_empty_image() -> None:
    starts, values = row_runs(np.zeros((0, 4), np.int32))
    assert starts.size == 0 and values.size == 0


@pytest.mark.parametrize(
    ("dtype", "width", "wide"),
    [(np.uint8, 50, np.uint32), (np.uint16, 60, np.uint32), (np.uint16, 70_000, np.uint64)],
)
def test_run_sums_are_exact_and_wide_enough(dtype: type, width: int, wide: type) -> None:
    rng = np.random.default_rng(width)
    top = np.iinfo(dtype).max
    values = rng.integers(top - 5, top + 1, (3, width), dtype=np.int64).astype(dtype)
    labels = (np.arange(width) * 3 // width).astype(np.int32)[None, :].repeat(3, axis=0)
    starts, _ = row_runs(labels)
    sums = run_sums(values, starts)
    ends = np.append(starts[1:], values.size)
    expected = [
        int(values.ravel()[a:b].astype(np.int64).sum()) for a, b in zip(starts, ends, strict=True)
    ]
    assert sums.dtype == wide and sums.tolist() == expected


@pytest.mark.parametrize("dtype", [np.uint16, np.int32])
def test_resize_nearest_by_rows_is_opencvs_nearest(dtype: type) -> None:
    rng = np.random.default_rng(7)
    for trial in range(150):
        height, width = (int(v) for v in rng.integers(1, 90, 2))
        size = (int(rng.integers(1, 500)), int(rng.integers(1, 500)))
        if trial % 3 == 0:  # whole multiples, as a working image and its photo
            size = (width * int(rng.integers(1, 6)), height * int(rng.integers(1, 6)))
        image = rng.integers(0, 60_000, (height, width)).astype(dtype)
        expected = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
        assert np.array_equal(resize_nearest(image, size), expected), (image.shape, size)


def test_run_sums_of_a_float_image() -> None:
    values = np.array([[0.5, 0.25, 2.0], [1.0, 1.0, 1.0]], np.float32)
    assert run_sums(values, np.array([0, 2, 3])).tolist() == [0.75, 2.0, 3.0]
