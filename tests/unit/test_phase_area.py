"""The size passes' reduction by the integral image (``phase.area_mean``, ``phase.reduced``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells import phase


def _texture(shape: tuple[int, int], dtype: type, seed: int) -> np.ndarray:
    """Smooth blobs plus grain, spanning the type's range (rounding cases included)."""
    rng = np.random.default_rng(seed)
    smooth = cv2.GaussianBlur(rng.random(shape, np.float32), (0, 0), 3.0)
    smooth = (smooth - smooth.min()) / max(float(np.ptp(smooth)), 1e-6)
    grain = rng.random(shape, np.float32) * 0.1
    top = np.iinfo(dtype).max
    return np.asarray(np.clip((0.9 * smooth + grain) * top, 0, top), dtype)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_area_mean_is_inter_area_to_a_rounding(seed: int, dtype: type) -> None:
    rng = np.random.default_rng(100 + seed)
    height, width = (int(v) for v in rng.integers(20, 400, 2))
    gray = _texture((height, width), dtype, seed)
    scale = float(rng.uniform(0.05, 0.9))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    ours = phase.area_mean(gray, size)
    theirs = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    assert ours.dtype == gray.dtype and ours.shape == theirs.shape
    difference = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
    assert difference.max() <= 1
    # OpenCV weighs in float32: 8 bit ≈ 1e-6 of a level from the exact mean, 16 bit ≈ 0.004
    share = 1000 if dtype is np.uint8 else 100
    assert np.count_nonzero(difference) <= max(2, difference.size // share)


@pytest.mark.parametrize("value", [0, 1, 128, 255])
def test_area_mean_of_a_flat_image_is_flat(value: int) -> None:
    gray = np.full((37, 53), value, np.uint8)
    assert np.all(phase.area_mean(gray, (11, 7)) == value)


def test_area_mean_keeps_the_sum_of_a_whole_reduction() -> None:
    gray = _texture((60, 90), np.uint8, 7)
    assert np.array_equal(
        phase.area_mean(gray, (30, 20)), cv2.resize(gray, (30, 20), interpolation=cv2.INTER_AREA)
    )


def test_reduced_keeps_inter_area_below_the_size_or_when_not_asked() -> None:
    gray = _texture((300, 400), np.uint8, 3)
    expected = cv2.resize(gray, (97, 73), interpolation=cv2.INTER_AREA)
    assert np.array_equal(phase.reduced(gray, (97, 73), by_sums=True), expected)
    assert np.array_equal(phase.reduced(gray, (97, 73), by_sums=False), expected)


def test_reduced_uses_the_sums_on_a_large_image() -> None:
    gray = np.zeros((1000, phase.SUMS_PIXELS // 1000), np.uint8)
    gray[::2] = 255  # row means 127.5 within a cell of whole rows: ties rounded to even
    size = (gray.shape[1] // 3 + 1, 333)
    ours = phase.reduced(gray, size, by_sums=True)
    assert np.array_equal(ours, phase.area_mean(gray, size))
    assert np.array_equal(
        phase.reduced(gray, (gray.shape[1] // 4, 250), by_sums=True),
        cv2.resize(gray, (gray.shape[1] // 4, 250), interpolation=cv2.INTER_AREA),
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_area_mean_from_a_given_integral_is_the_same(dtype: type) -> None:
    gray = _texture((211, 317), dtype, 11)
    total = phase.integral(gray)
    for size in ((101, 67), (29, 19), (317, 211)):
        assert np.array_equal(phase.area_mean(gray, size, total), phase.area_mean(gray, size))


def test_image_sums_compute_the_integral_once_for_all_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gray = _texture((1000, phase.SUMS_PIXELS // 1000), np.uint8, 5)
    calls = []
    real = phase.integral

    def counted(image: np.ndarray) -> np.ndarray:
        calls.append(image.shape)
        return real(image)

    monkeypatch.setattr(phase, "integral", counted)
    sums = phase.ImageSums(gray)
    sizes = ((1334, 333), (1111, 277), (997, 250))
    shared = [phase.reduced(gray, size, by_sums=sums) for size in sizes]
    assert len(calls) == 1
    alone = [phase.reduced(gray, size, by_sums=True) for size in sizes]
    assert len(calls) == 4
    assert all(np.array_equal(a, b) for a, b in zip(shared, alone, strict=True))


def test_image_sums_of_another_image_are_not_used() -> None:
    gray = _texture((1000, phase.SUMS_PIXELS // 1000), np.uint8, 6)
    other = phase.ImageSums(np.zeros_like(gray))
    size = (1334, 333)
    assert np.array_equal(phase.reduced(gray, size, by_sums=other), phase.area_mean(gray, size))
