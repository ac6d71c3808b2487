"""Decoding to YUV 4:2:0 and writing it back: the codec's own format, no conversion."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from chalicelib.faces import video
from devtools.synthetic.faces import background, psnr

pytestmark = pytest.mark.skipif(video.ffmpeg_exe() is None, reason="needs ffmpeg")


def _write(path: Path, frames: int = 12) -> list[np.ndarray]:
    written = []
    with video.VideoWriter(path, 160, 120, 10.0) as out:
        for index in range(frames):
            frame = background(160, 120)
            cv2.circle(frame, (20 + 10 * index, 60), 12, (255, 255, 255), -1)
            out.write(frame)
            written.append(frame)
    return written


def test_yuv_frames_match_the_bgr_decoder_and_ranges_hold_each_frame_once(tmp_path: Path) -> None:
    source = tmp_path / "a.mp4"
    _write(source)
    bgr = list(video.frames(source))
    yuv = list(video.yuv420_frames(source))
    assert len(yuv) == len(bgr) == 12
    assert yuv[0].shape == (180, 160) and yuv[0].flags.writeable
    for a, b in zip(bgr, yuv, strict=True):  # the same pictures, up to colour rounding
        assert psnr(a, cv2.cvtColor(b, cv2.COLOR_YUV2BGR_I420)) > 35
    parts = [*video.yuv420_frames(source, 0, 5), *video.yuv420_frames(source, 5, 7)]
    assert all(np.array_equal(a, b) for a, b in zip(parts, yuv, strict=True))


def test_yuv_written_back_is_kept_closely(tmp_path: Path) -> None:
    source, again = tmp_path / "a.mp4", tmp_path / "b.mp4"
    _write(source)
    frames = list(video.yuv420_frames(source))
    with video.VideoWriter(again, 160, 120, 10.0) as out:
        for frame in frames:
            out.write_yuv420(frame)
    assert out.frames == 12
    for a, b in zip(frames, video.yuv420_frames(again), strict=True):
        assert psnr(a, b) > 40


def test_odd_sizes_are_refused(tmp_path: Path) -> None:
    assert not video.can_decode_yuv420(161, 120)
    path = tmp_path / "odd.mp4"
    with video.VideoWriter(path, 161, 121, 10.0) as out:
        out.write(np.zeros((121, 161, 3), np.uint8))
    with pytest.raises(ValueError, match="even"):
        next(video.yuv420_frames(path))


def test_a_height_of_2_mod_4_is_blurred_in_every_plane(tmp_path: Path) -> None:
    # 1280×534-like pictures: the chroma planes start mid-row of the I420 array.
    from chalicelib.faces import process

    class Everything:  # a "face" covering the middle of the picture, every pass
        name, min_face = "test", 20

        def search(self, grey, regions, *rest):  # type: ignore[no-untyped-def]
            return [((110, 80, 30, 30), "frontal")]

    source, target = tmp_path / "wide.mp4", tmp_path / "out.mp4"
    with video.VideoWriter(source, 160, 122, 10.0) as out:
        for _ in range(6):
            out.write(background(160, 122))
    info = video.probe(source)
    process.anonymise(source, target, Everything(), info)  # type: ignore[arg-type]
    before, after = next(video.frames(source)), next(video.frames(target))
    assert after.shape == before.shape
    assert psnr(before[85:105, 115:135], after[85:105, 115:135]) < 25  # blurred, colours too
    assert psnr(before[:30, :60], after[:30, :60]) > 35  # the rest kept
