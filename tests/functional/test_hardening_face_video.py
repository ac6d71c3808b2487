"""Hostile videos through the face workflow's own steps (issue qa4): frames smaller than
the smallest face, a header that understates the frame count, variable frame rate."""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from chalicelib.config import Settings
from chalicelib.errors import CorruptInput, TooLarge, UnsupportedType
from chalicelib.faces import container, process, video
from chalicelib.faces.blazeface import shared_detector
from chalicelib.faces.container import FaceBlurService
from chalicelib.faces.handlers import _job
from chalicelib.faces.messages import FaceBlurJob, Sample, SegmentTask
from chalicelib.faces.tracking import CoverageSettings


def tiny(path: Path, width: int, height: int, frames: int = 4) -> Path:
    with video.VideoWriter(path, width, height, 10.0) as out:
        for i in range(frames):
            out.write(np.full((height, width, 3), 40 * i, np.uint8))
    return path


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (16, 16)])
def test_frames_smaller_than_the_smallest_face_are_refused_by_name(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    source = tiny(tmp_path / "tiny.mp4", *size)
    info = video.probe(source)
    target = tmp_path / "out.mp4"
    with pytest.raises(UnsupportedType, match="smaller than the smallest face"):
        process.anonymise(
            source,
            target,
            shared_detector(),
            info,
            settings=CoverageSettings(),
            segment=process.Segment(0, info.frames, 15),
        )
    assert not target.exists()


def test_frames_as_large_as_the_smallest_face_are_blurred(tmp_path: Path) -> None:
    side = shared_detector().min_face
    source = tiny(tmp_path / "small.mp4", side, side)
    info = video.probe(source)
    done = process.anonymise(source, tmp_path / "out.mp4", shared_detector(), info)
    assert done.frames == 4


def avi(path: Path, frames: int, claimed: int | None = None) -> Path:
    """MJPEG AVI of ``frames`` frames at 10 fps; ``claimed``: the headers' frame count."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i % 250, np.uint8))
    writer.release()
    if claimed is not None:  # the main header's and the stream header's frame counts
        data = bytearray(path.read_bytes())
        struct.pack_into("<I", data, data.find(b"avih") + 8 + 16, claimed)
        struct.pack_into("<I", data, data.find(b"strh") + 8 + 32, claimed)
        path.write_bytes(bytes(data))
    return path


def run_workflow(service: FaceBlurService, job: FaceBlurJob) -> dict[str, Any]:
    """PlanSegments, BlurSegments (each item), JoinSegments, as the state machine runs them."""
    state = service.plan(job)
    parts = [service.segment(SegmentTask.from_state(item)) for item in state["segments"]]
    return service.join(FaceBlurJob.from_state({**state, "parts": parts}))


def upload(s3: Any, settings: Settings, path: Path) -> FaceBlurJob:
    s3.put_object(Bucket=settings.videos_bucket, Key=path.name, Body=path.read_bytes())
    return _job(settings, settings.videos_bucket, path.name, "etag")


def test_a_header_that_understates_the_frames_does_not_cut_the_output(
    s3: Any, settings: Settings, tmp_path: Path
) -> None:
    source = avi(tmp_path / "under.avi", frames=60, claimed=5)  # 6 s; the header says 0.5 s
    assert video.probe(source).frames == 5
    job = upload(s3, settings, source)
    done = run_workflow(FaceBlurService(settings, s3), job)
    assert done["result"]["frames"] == 60
    out = tmp_path / "out.mp4"
    s3.download_file(job.output_bucket, job.output_key, str(out))
    assert sum(1 for _ in video.frames(out)) == 60


def test_a_header_that_understates_the_length_past_the_limit_is_refused(
    s3: Any, settings: Settings, tmp_path: Path
) -> None:
    source = avi(tmp_path / "long.avi", frames=60, claimed=5)
    job = upload(s3, settings, source)
    service = FaceBlurService(replace(settings, max_video_seconds=2), s3)
    with pytest.raises(TooLarge, match="limit"):
        service.plan(job)


def test_a_plan_whose_state_would_overflow_step_functions_is_refused(
    s3: Any, settings: Settings, tmp_path: Path
) -> None:
    # One-frame segments (what a 4K video at 30 fps gets at the default pixel rate:
    # its context alone is over the budget): 600 segments, a state of MBs in 4K.
    source = avi(tmp_path / "many.avi", frames=600)
    job = upload(s3, settings, source)
    service = FaceBlurService(replace(settings, face_segment_seconds=0.1), s3)
    with pytest.raises(TooLarge, match="segments"):
        service.plan(job)


def test_the_join_input_stays_within_what_the_plan_allowed(
    s3: Any, settings: Settings, tmp_path: Path
) -> None:
    # A long key (1,000 bytes) and many short segments: the state JoinSegments receives
    # (the plan's state and every segment's summary) is what the plan estimated, at most.
    source = avi(tmp_path / "clip.avi", frames=12)
    name = "k" * (1000 - len(".avi")) + ".avi"
    s3.put_object(Bucket=settings.videos_bucket, Key=name, Body=source.read_bytes())
    job = _job(settings, settings.videos_bucket, name, "etag")
    service = FaceBlurService(replace(settings, face_segment_seconds=0.1), s3)
    state = service.plan(job)
    parts = [service.segment(SegmentTask.from_state(item)) for item in state["segments"]]
    joined = json.dumps({**state, "parts": parts})
    assert len(state["segments"]) == 12
    assert len(joined) <= container.state_bytes(FaceBlurJob.from_state(state))


def variable_rate(path: Path, times: list[float]) -> Path:
    """A lossless H.264 MP4: frame ``i`` is grey level ``16 + 3 i``, shown at ``times[i]``."""
    with av.open(str(path), "w") as box:
        stream = box.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.options = {"qp": "0"}
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 16 + 3 * i, np.uint8), "rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            box.mux(stream.encode(frame))
        box.mux(stream.encode(None))
    return path


def frame_numbers(path: Path) -> list[int]:
    return [round((float(f.mean()) - 16) / 3) for f in video.frames(path)]


@pytest.mark.skipif(video.av is None, reason="PyAV writes the variable-rate fixture")
@pytest.mark.parametrize(
    "times",
    [
        [i / 5 for i in range(30)] + [6 + i / 30 for i in range(30)],  # slow, then fast
        [i / 30 for i in range(30)] + [1 + i / 5 for i in range(30)],  # fast, then slow
    ],
    ids=["slow-then-fast", "fast-then-slow"],
)
def test_segments_of_a_variable_rate_video_hold_each_frame_once(
    s3: Any, settings: Settings, tmp_path: Path, times: list[float]
) -> None:
    source = variable_rate(tmp_path / "vfr.mp4", times)
    assert frame_numbers(source) == list(range(60))
    out = blurred_in_segments(s3, settings, source, tmp_path / "out.mp4")
    assert frame_numbers(out) == list(range(60))


def blurred_in_segments(s3: Any, settings: Settings, source: Path, out: Path) -> Path:
    """``source`` through the workflow in 1-s segments (more than four); the output video."""
    job = upload(s3, settings, source)
    service = FaceBlurService(replace(settings, face_segment_seconds=1.0), s3)
    done = run_workflow(service, job)
    assert done["result"]["segments"] > 4
    s3.download_file(job.output_bucket, job.output_key, str(out))
    return out


def test_a_video_cut_short_behind_a_whole_index_is_corrupt_input(
    s3: Any, settings: Settings, tmp_path: Path
) -> None:
    # The index (moov, at the front: +faststart) promises 40 frames; the data stops at 60 %.
    whole = tmp_path / "whole.mp4"
    with video.VideoWriter(whole, 64, 48, 10.0) as out:
        for i in range(40):
            out.write(np.full((48, 64, 3), 6 * i, np.uint8))
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    assert video.probe(cut).frames == 40
    job = upload(s3, settings, cut)
    with pytest.raises(CorruptInput, match="truncated"):
        run_workflow(FaceBlurService(settings, s3), job)


def textured_variable_rate(path: Path, times: list[float]) -> Path:
    """``variable_rate`` with a fine checkerboard on each frame (mean still ``16 + 3 i``),
    so that a blurred frame can be told from a sharp one."""
    checker = np.indices((48, 64)).sum(axis=0) % 2 * 40 - 20
    with av.open(str(path), "w") as box:
        stream = box.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        stream.time_base = Fraction(1, 1000)
        stream.options = {"qp": "0"}
        for i, t in enumerate(times):
            grey = (40 + 3 * i + checker).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.dstack([grey] * 3), "rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            box.mux(stream.encode(frame))
        box.mux(stream.encode(None))
    return path


@pytest.mark.skipif(video.av is None, reason="PyAV writes the variable-rate fixture")
def test_detections_made_elsewhere_land_on_their_frames_at_a_variable_rate(
    tmp_path: Path,
) -> None:
    # Rekognition's samples carry each frame's real time: frames 30 and 31 (at 6.0 and
    # 6.033 s) hold a face over the whole picture, no other frame does.
    times = [i / 5 for i in range(30)] + [6 + i / 30 for i in range(30)]
    source = textured_variable_rate(tmp_path / "vfr.mp4", times)
    face = ((0.0, 0.0, 1.0, 1.0),)
    samples = [Sample(t * 1000, face if i in (30, 31) else ()) for i, t in enumerate(times)]
    info = video.probe(source)
    out = tmp_path / "part.mp4"
    known = video.packet_times(source, 100)
    # as the plan gives it: 15 context frames, sought for the opencv path at frame 10
    part = process.Segment(25, 10, 15, video.seek_time(known, 10))
    done = process.blur_samples(source, out, samples, info, part, times=known)
    assert done.frames == 10
    written = list(video.frames(out))
    # (ids 3 grey levels apart; x264 at QP 18 moves a checkerboard's mean by up to ~2)
    numbers = [(float(f.mean()) - 40) / 3 for f in written]
    assert all(abs(n - i) < 1 for n, i in zip(numbers, range(25, 35), strict=True))
    sharp = [float(cv2.Laplacian(f, cv2.CV_32F).var()) > 100 for f in written]
    assert [25 + p for p, s in enumerate(sharp) if not s] == [30, 31]


def with_audio(path: Path, times: list[float], seconds: float) -> Path:
    """``variable_rate``'s frames with a 440-Hz AAC tone of ``seconds`` beside them."""
    rate = 16_000
    with av.open(str(path), "w") as box:
        stream = box.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.options = {"qp": "0"}
        sound = box.add_stream("aac", rate=rate)
        sound.layout = "mono"
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 16 + 3 * i, np.uint8), "rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            box.mux(stream.encode(frame))
        box.mux(stream.encode(None))
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(
            np.float32
        )
        for start in range(0, len(wave), 1024):
            chunk = av.AudioFrame.from_ndarray(wave[None, start : start + 1024], "fltp", "mono")
            chunk.sample_rate, chunk.pts = rate, start
            box.mux(sound.encode(chunk))
        box.mux(sound.encode(None))
    return path


def shown_at(path: Path) -> list[float]:
    """Each frame's presentation time (seconds from the video stream's start)."""
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        origin = stream.start_time or 0
        return [float((f.pts - origin) * stream.time_base) for f in box.decode(stream)]


@pytest.mark.skipif(video.av is None, reason="PyAV writes the variable-rate fixture")
@pytest.mark.parametrize("sound", [False, True], ids=["silent", "with-audio"])
def test_a_variable_rate_video_keeps_each_frame_at_its_own_time(
    s3: Any, settings: Settings, tmp_path: Path, sound: bool
) -> None:
    # Slow, then fast: at the average rate (60 frames over 7 s) frame 30, shown at 6.0 s
    # in the source, would be shown at 3.5 s, 2.5 s before its sound.
    times = [i / 5 for i in range(30)] + [6 + i / 30 for i in range(30)]
    path = tmp_path / "vfr.mp4"
    source = with_audio(path, times, 7.0) if sound else variable_rate(path, times)
    out = blurred_in_segments(s3, settings, source, tmp_path / "out.mp4")
    assert frame_numbers(out) == list(range(60))
    assert np.allclose(shown_at(out), times, atol=0.002)
    if sound:
        length = video.audio_duration(out)
        assert length is not None and abs(length - 7.0) < 0.1


def test_a_constant_rate_is_not_taken_for_a_variable_one() -> None:
    # 29.97 fps in a millisecond time base: rounding of up to half a millisecond
    assert not video.variable_rate([round(i * 1001 / 30) / 1000 for i in range(300)])
    assert not video.variable_rate([i / 25 for i in range(10)])
    assert video.variable_rate([i / 25 for i in range(10)] + [0.5, 0.52])
