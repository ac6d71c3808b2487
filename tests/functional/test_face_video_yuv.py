"""Decoding to YUV 4:2:0 and writing it back: the codec's own format, no conversion."""

from __future__ import annotations

import importlib.util
import subprocess
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


needs_av = pytest.mark.skipif(importlib.util.find_spec("av") is None, reason="needs PyAV")


def _moving(path: Path, preset: str = "ultrafast", fps: float = 10.0, frames: int = 30) -> None:
    with video.VideoWriter(path, 160, 120, fps, preset=preset, crf=18) as out:
        for index in range(frames):
            frame = background(160, 120)
            cv2.circle(frame, (20 + 4 * index, 60), 12, (255, 255, 255), -1)
            out.write(frame)


@needs_av
def test_in_process_decoding_gives_the_pipes_frames_and_ranges(tmp_path: Path) -> None:
    # B-frames (reordered timestamps) at an NTSC rate: the case where a range's seek
    # and its first kept frame are easiest to get wrong.
    source = tmp_path / "b.mp4"
    _moving(source, preset="medium", fps=30000 / 1001)
    info = video.probe(source)
    piped = list(video._ffmpeg_frames(source, info, "yuv420p"))
    assert len(piped) == 30
    for start, count in ((0, None), (0, 7), (7, 9), (16, None), (29, 3)):
        mine = list(video._av_frames(source, info, start, count))
        assert [f.shape for f in mine] == [f.shape for f in piped[start:][:count]]
        assert all(np.array_equal(a, b) for a, b in zip(mine, piped[start:], strict=False))
        assert all(f.flags.c_contiguous and f.flags.writeable for f in mine)


@needs_av
def test_in_process_encoding_writes_the_pipes_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "a.mp4"
    _moving(source)
    frames = list(video.yuv420_frames(source))

    def encoded(name: str) -> tuple[list[np.ndarray], bool]:
        path = tmp_path / name
        with video.VideoWriter(path, 160, 120, 30000 / 1001, threads=1) as out:
            in_process = out._av is not None
            for frame in frames:
                out.write_yuv420(frame)
        assert out.frames == 30
        return list(video.yuv420_frames(path)), in_process

    mine, in_process = encoded("in-process.mp4")
    monkeypatch.setattr(video, "av", None)  # the ffmpeg binary's pipe
    piped, by_pipe = encoded("piped.mp4")
    assert in_process and not by_pipe
    # The same libx264 settings on one thread: the same pictures, bit for bit.
    assert all(np.array_equal(a, b) for a, b in zip(mine, piped, strict=True))
    assert video.probe(tmp_path / "in-process.mp4").fps == pytest.approx(30000 / 1001, abs=1e-9)


@needs_av
def test_what_is_not_plain_420_is_left_to_the_pipe(tmp_path: Path) -> None:
    # 4:4:4 (what the writer makes of odd sizes, and some cameras of even ones): the
    # ffmpeg binary converts it, PyAV would hand back another layout.
    source = tmp_path / "444.mp4"
    exe = video.ffmpeg_exe()
    assert exe is not None
    command = [exe, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10"]
    command += ["-frames:v", "8", "-c:v", "libx264", "-pix_fmt", "yuv444p", str(source)]
    subprocess.run(command, check=True, capture_output=True)
    info = video.probe(source)
    with pytest.raises(video._NotPlain):
        next(video._av_frames(source, info))
    frames = list(video.yuv420_frames(source))
    assert len(frames) == 8 and frames[0].shape == (180, 160)
    piped = video._ffmpeg_frames(source, info, "yuv420p")
    assert all(np.array_equal(a, b) for a, b in zip(frames, piped, strict=True))


@needs_av
def test_a_source_with_sound_is_encoded_by_the_ffmpeg_binary(tmp_path: Path) -> None:
    # (which lays the source's audio in: ``test_audio_track_is_kept``)
    silent, sound = tmp_path / "silent.mp4", tmp_path / "sound.mp4"
    _moving(silent, frames=5)
    exe = video.ffmpeg_exe()
    assert exe is not None
    command = [exe, "-loglevel", "error", "-i", str(silent), "-f", "lavfi"]
    command += ["-i", "sine=duration=0.5", "-c:v", "copy", "-c:a", "aac", str(sound)]
    subprocess.run(command, check=True, capture_output=True)
    assert video.has_audio(sound) and not video.has_audio(silent)
    for source, in_process in ((silent, True), (sound, False)):
        with video.VideoWriter(tmp_path / "out.mp4", 160, 120, 10.0, audio_from=source) as out:
            assert (out._av is not None) is in_process
            out.write(background(160, 120))


@needs_av
@pytest.mark.parametrize("threads", [1, None])
def test_the_encoder_is_done_with_a_frame_when_write_returns(
    tmp_path: Path, threads: int | None
) -> None:
    # Frames are handed to x264 without a copy: a buffer written over at once (as the
    # pipeline frees and reuses frame memory) must not change what was encoded.
    source = tmp_path / "a.mp4"
    _moving(source)
    frames = list(video.yuv420_frames(source))
    videos = []
    for reuse in (False, True):
        path = tmp_path / f"{reuse}.mp4"
        buffer = np.empty_like(frames[0])
        with video.VideoWriter(path, 160, 120, 10.0, threads=threads) as out:
            for frame in frames:
                if reuse:
                    buffer[...] = frame
                    out.write_yuv420(buffer)
                    buffer[...] = 0
                else:
                    out.write_yuv420(frame.copy())
        videos.append(list(video.yuv420_frames(path)))
    assert len(videos[0]) == 30
    assert all(np.array_equal(a, b) for a, b in zip(*videos, strict=True))


def test_frames_are_decoded_into_the_buffers_given_back(tmp_path: Path) -> None:
    source = tmp_path / "a.mp4"
    _write(source)
    fresh = list(video.yuv420_frames(source))
    pool = video.FramePool()
    buffers, pooled = [], []
    for frame in video.yuv420_frames(source, pool=pool):
        buffers.append(frame)
        pooled.append(frame.copy())
        pool.give(frame)  # done with it: the next frame is decoded into it
    assert len({id(b) for b in buffers}) == 1
    assert all(np.array_equal(a, b) for a, b in zip(pooled, fresh, strict=True))


def test_a_blurred_video_keeps_every_frame_in_its_place(tmp_path: Path) -> None:
    # Frame buffers go back to the decoder once written: a buffer reused too early
    # would show a later frame's picture in its place (the circle moves 2.8 px/frame).
    from chalicelib.faces import process
    from chalicelib.faces.blazeface import default_detector

    source, target = tmp_path / "a.mp4", tmp_path / "b.mp4"
    with video.VideoWriter(source, 160, 120, 10.0) as out:
        for index in range(50):
            frame = background(160, 120)
            cv2.circle(frame, (12 + 14 * index // 5, 60), 12, (255, 255, 255), -1)
            out.write(frame)
    info = video.probe(source)
    for segment in (None, process.Segment(10, 30, context=8)):
        process.anonymise(source, target, default_detector(), info, segment=segment, audio=False)
        first = segment.start if segment else 0
        written = list(video.frames(target))
        original = list(video.frames(source))[first : first + len(written)]
        assert len(written) == (segment.count if segment else 50)
        for index, frame in enumerate(written):
            scores = [psnr(frame, other) for other in original]
            assert int(np.argmax(scores)) == index and scores[index] > 35
