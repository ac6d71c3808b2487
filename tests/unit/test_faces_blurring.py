"""Blurring I420 frames in place: only the rectangles change, in all three planes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.faces import video
from chalicelib.faces.blurring import blur_rects_yuv420, blur_whole_yuv420
from chalicelib.faces.detection import blur_rects


def textured(width: int = 96, height: int = 64) -> np.ndarray:
    """A BGR frame of random texture (sharp everywhere)."""
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, (height, width, 3), np.uint8)


def energy(grey: np.ndarray) -> float:
    return float(np.mean(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F) ** 2))


@pytest.mark.parametrize("rects", [[(10, 8, 30, 30)], [(11, 9, 29, 27)], [(0, 0, 40, 30)]])
def test_only_the_rectangle_changes_in_every_plane(rects: list[tuple[int, int, int, int]]) -> None:
    frame = cv2.cvtColor(textured(), cv2.COLOR_BGR2YUV_I420)
    before = frame.copy()
    assert blur_rects_yuv420(frame, 64, rects) == 1
    x, y, w, h = rects[0]
    changed = frame != before
    luma = changed[:64]
    ys, xs = np.nonzero(luma)
    assert ys.min() >= y and ys.max() < y + h and xs.min() >= x and xs.max() < x + w
    for plane in (video.u_plane, video.v_plane):
        moved = plane(frame, 64) != plane(before, 64)
        ys, xs = np.nonzero(moved)
        assert moved.any()
        # half size, rounded outwards: never more than one chroma sample past the edge
        assert ys.min() >= y // 2 and ys.max() < -(-(y + h) // 2)
        assert xs.min() >= x // 2 and xs.max() < -(-(x + w) // 2)


def test_blur_destroys_detail_as_the_bgr_blur_does() -> None:
    bgr = textured(192, 128)
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    rect = [(40, 30, 96, 72)]
    blur_rects(bgr, rect)
    blur_rects_yuv420(yuv, 128, rect)
    inside_bgr = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[30:102, 40:136]
    inside_yuv = cv2.cvtColor(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420), cv2.COLOR_BGR2GRAY)
    sharp = energy(cv2.cvtColor(textured(192, 128), cv2.COLOR_BGR2GRAY)[30:102, 40:136])
    assert energy(inside_yuv[30:102, 40:136]) < 0.01 * sharp
    assert energy(inside_bgr) < 0.01 * sharp


@pytest.mark.parametrize(
    ("second", "union"),
    [((20, 20, 24, 24), (8, 8, 36, 36)), ((32, 8, 12, 24), (8, 8, 36, 24))],
    ids=["overlapping", "touching"],
)
def test_rectangles_that_meet_are_blurred_as_one_without_a_step(
    second: tuple[int, int, int, int], union: tuple[int, int, int, int]
) -> None:
    frame = np.zeros((96, 64), np.uint8)
    frame[:64] = np.tile((np.arange(64) * 4).astype(np.uint8), (64, 1))
    alone = frame.copy()
    assert blur_rects_yuv420(frame, 64, [(8, 8, 24, 24), second]) == 2
    blur_rects_yuv420(alone, 64, [union])
    # where either rectangle is, the pixels are the union's blur (no step where they
    # meet: blurred apart, the step kept a face's sharpness); outside, untouched
    x, y, w, h = second
    assert np.array_equal(frame[8:32, 8:32], alone[8:32, 8:32])
    assert np.array_equal(frame[y : y + h, x : x + w], alone[y : y + h, x : x + w])
    if second[1] > 8:
        assert np.array_equal(frame[8:20, 32:44], np.tile((np.arange(32, 44) * 4), (12, 1)))


def test_whole_frame_and_rectangles_outside_the_frame() -> None:
    frame = cv2.cvtColor(textured(), cv2.COLOR_BGR2YUV_I420)
    before = frame.copy()
    assert blur_rects_yuv420(frame, 64, [(200, 200, 10, 10), (-5, -5, 6, 6)]) == 0
    assert np.array_equal(frame, before)
    blur_whole_yuv420(frame, 64)
    assert energy(frame[:64]) < 0.05 * energy(before[:64])


def test_luma_is_the_stretched_grey_of_the_bgr_path() -> None:
    frame = np.zeros((96, 64), np.uint8)
    frame[:64] = np.arange(256, dtype=np.uint8).reshape(64, 4).repeat(16, axis=1)
    grey = video.luma(frame, 64)
    assert grey.shape == (64, 64) and grey.dtype == np.uint8
    values = dict(zip(frame[:64].ravel().tolist(), grey.ravel().tolist(), strict=True))
    assert values[0] == 0 and values[16] == 0 and values[17] == 0  # saturates below
    assert values[235] == 254 and values[255] == 255  # and above
    assert values[128] == round(128 * 255 / 219 - 19.9)
    steps = np.diff([values[v] for v in range(18, 236)])
    assert steps.min() >= 1 and steps.max() <= 2  # monotonic, no level lost
