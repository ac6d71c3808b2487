"""What the in-process decoder hands on and what it leaves to the ffmpeg binary (pure)."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

from chalicelib.faces import video

INFO = video.VideoInfo(width=64, height=48, fps=25.0, frames=10)


def _frame(fmt: str = "yuv420p", size: tuple[int, int] = (64, 48), rotation: int = 0, pts=0):  # type: ignore[no-untyped-def]
    return SimpleNamespace(
        format=SimpleNamespace(name=fmt), width=size[0], height=size[1], rotation=rotation, pts=pts
    )


def test_plain_420_of_the_probed_size_is_decoded_in_process() -> None:
    assert video._plain(_frame(), INFO, timed=True)


@pytest.mark.parametrize(
    "frame",
    [
        _frame(fmt="yuvj420p"),  # full range: the binary converts it to 16-235
        _frame(fmt="yuv444p"),
        _frame(fmt="yuv420p10le"),
        _frame(size=(48, 64)),  # the probe saw it turned
        _frame(rotation=90),  # a phone's rotation: the binary applies it
        _frame(rotation=180),
    ],
)
def test_what_the_binary_would_convert_is_left_to_it(frame: SimpleNamespace) -> None:
    assert not video._plain(frame, INFO, timed=False)


def test_a_range_needs_timestamps_the_whole_file_does_not() -> None:
    assert not video._plain(_frame(pts=None), INFO, timed=True)
    assert video._plain(_frame(pts=None), INFO, timed=False)


@pytest.mark.parametrize(
    ("fps", "rate"),
    [
        (30.0, Fraction(30)),
        (29.97002997, Fraction(30000, 1001)),
        (23.976023976, Fraction(24000, 1001)),
        (59.94005994, Fraction(60000, 1001)),
        (12.5, Fraction(25, 2)),
    ],
)
def test_frame_rates_are_exact_fractions(fps: float, rate: Fraction) -> None:
    assert video.frame_rate(fps) == rate


def test_a_decoded_frame_is_copied_plane_by_plane_as_to_ndarray_gives_it() -> None:
    av = pytest.importorskip("av")
    rng = np.random.default_rng(5)
    i420 = rng.integers(0, 256, (48 * 3 // 2, 64), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
    out = np.full_like(i420, 7)
    assert video.i420_into(frame, out) is out
    np.testing.assert_array_equal(out, frame.to_ndarray())
    np.testing.assert_array_equal(out, i420)


def test_the_pool_hands_back_buffers_of_the_shape_asked_for() -> None:
    pool = video.FramePool(limit=1)
    small, large = pool.take((6, 4)), pool.take((12, 8))
    pool.give(small)
    pool.give(large)  # over the limit: not kept
    again = pool.take((12, 8))
    assert again is not small and again is not large and again.shape == (12, 8)
    assert pool.take((6, 4)) is not small  # the small one was dropped looking for a fit
