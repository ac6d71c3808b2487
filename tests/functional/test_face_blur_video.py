"""Detect + blur on generated videos (no AWS): the issue's face test and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chalicelib.errors import CorruptInput, TooLarge, UnsupportedType
from chalicelib.faces import process, video
from chalicelib.faces.detection import HaarFaceDetector, MultiViewDetector
from chalicelib.faces.tracking import CoverageSettings
from devtools.synthetic.faces import (
    Actor,
    Case,
    Rendered,
    background,
    moving_face,
    psnr,
    score,
    sharpness,
    write,
)


@pytest.fixture(scope="module")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    path = tmp_path_factory.mktemp("video") / "face.mp4"
    return path, moving_face(path, frames=45, size=(320, 240), fps=15.0)


def test_every_frame_face_blurred_background_unchanged(face_video, tmp_path: Path) -> None:
    source, faces = face_video
    found = process.detect(source, HaarFaceDetector(), sample_hz=3.0)  # every 5th frame
    assert all(len(s.boxes) == 1 for s in found.samples)
    out = tmp_path / "blurred.mp4"
    result = process.blur(source, out, found.samples, found.info)
    assert result.codec == "h264" and result.frames == 45
    original, blurred = list(video.frames(source)), list(video.frames(out))
    assert len(blurred) == len(original)
    for (x0, y0, x1, y1), a, b in zip(faces, original, blurred, strict=True):
        assert 1 - sharpness(b[y0:y1, x0:x1]) / sharpness(a[y0:y1, x0:x1]) >= 0.9
        keep = np.ones(a.shape[:2], bool)
        w, h = x1 - x0, y1 - y0
        keep[max(0, y0 - h) : y1 + h, max(0, x0 - w) : x1 + w] = False
        assert psnr(a[keep], b[keep]) >= 35
    info = video.probe(out)
    assert (info.width, info.height, info.fps) == (320, 240, 15.0)


def test_video_without_faces_is_reencoded_with_zero_faces(tmp_path: Path) -> None:
    source = tmp_path / "empty.mp4"
    with video.VideoWriter(source, 160, 120, 10.0) as out:
        for _ in range(12):
            out.write(background(160, 120))
    found = process.detect(source, HaarFaceDetector())
    assert all(not s.boxes for s in found.samples)
    result = process.blur(source, tmp_path / "out.mp4", found.samples, found.info)
    assert result.frames == 12 and result.boxes_blurred == 0


def test_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(b"this is not a video" * 100)
    with pytest.raises(UnsupportedType):
        process.detect(path, HaarFaceDetector())


def test_truncated_video(face_video, tmp_path: Path) -> None:
    data = face_video[0].read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises((UnsupportedType, CorruptInput)):
        process.detect(path, HaarFaceDetector())


def test_too_long_is_refused_before_decoding(face_video) -> None:
    with pytest.raises(TooLarge, match="limit"):
        process.detect(face_video[0], HaarFaceDetector(), max_seconds=1.0)


def test_odd_sizes_are_kept(tmp_path: Path) -> None:
    source = tmp_path / "odd.mp4"
    with video.VideoWriter(source, 161, 121, 10.0) as out:
        for _ in range(5):
            out.write(background(161, 121))
    assert (video.probe(source).width, video.probe(source).height) == (161, 121)


def test_audio_track_is_kept(face_video, tmp_path: Path) -> None:
    import subprocess

    exe = video.ffmpeg_exe()
    assert exe is not None
    source = tmp_path / "with-audio.mp4"
    subprocess.run(
        [
            exe,
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(face_video[0]),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-shortest",
            str(source),
        ],
        check=True,
    )
    found = process.detect(source, HaarFaceDetector())
    out = tmp_path / "out.mp4"
    process.blur(source, out, found.samples, found.info)
    probe = subprocess.run([exe, "-hide_banner", "-i", str(out)], capture_output=True, text=True)
    assert "Audio: aac" in probe.stderr and "Video: h264" in probe.stderr


# -- one pass: detect, track, blur (the workflow's segment task) ------------------------

SMALL_CASE = Case(
    "test-crossing",
    (320, 240),
    (
        Actor("astronaut", 40, (-10, 100), (12, 0)),  # enters from the left, fast
        Actor("camera-mirrored", 44, (300, 150), (-5, 0)),  # mirrored profile
    ),
    "brick",
    frames=30,
)


@pytest.fixture(scope="module")
def small_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Rendered]:
    path = tmp_path_factory.mktemp("case") / "case.mp4"
    return path, write(SMALL_CASE, path)


def test_no_face_frame_is_left_sharp_and_the_background_is_kept(small_case, tmp_path) -> None:
    source, truth = small_case
    out = tmp_path / "out.mp4"
    info = video.probe(source)
    done = process.anonymise(source, out, MultiViewDetector(), info)
    assert done.frames == 30 and done.stats.tracks >= 2 and not done.strict
    scored = score(source, out, truth)
    assert scored.face_frames == 30 and scored.exposed == []
    # Two fast faces padded for their motion cover much of a 320x240 frame of bricks.
    assert scored.background_psnr >= 22
    assert done.review_png is not None and done.review_png[:4] == b"\x89PNG"


def test_segments_joined_equal_one_pass_without_a_seam(small_case, tmp_path) -> None:
    source, truth = small_case
    info = video.probe(source)
    parts = []
    for number, (start, count) in enumerate([(0, 12), (12, 9), (21, 9)]):
        part = tmp_path / f"part-{number}.mp4"
        segment = process.Segment(start, count, context=15)
        done = process.anonymise(source, part, MultiViewDetector(), info, segment=segment)
        assert done.frames == count
        parts.append(part)
    joined = tmp_path / "joined.mp4"
    video.join(parts, joined, audio_from=source)
    assert video.probe(joined).frames == 30
    scored = score(source, joined, truth)
    assert scored.exposed == [] and scored.frames == 30
    assert scored.background_psnr >= 22


def test_strict_mode_blurs_more_and_says_so(small_case, tmp_path) -> None:
    source, truth = small_case
    info = video.probe(source)
    relaxed = process.anonymise(source, tmp_path / "a.mp4", MultiViewDetector(), info)
    strict = process.anonymise(
        source,
        tmp_path / "b.mp4",
        MultiViewDetector(),
        info,
        settings=CoverageSettings.for_mode(True),
    )
    assert strict.strict and not relaxed.strict
    a = score(source, tmp_path / "a.mp4", truth)
    b = score(source, tmp_path / "b.mp4", truth)
    assert b.exposed == [] and b.background_psnr <= a.background_psnr


def test_a_segment_is_blurred_with_detections_made_elsewhere(face_video, tmp_path) -> None:
    """The Rekognition path: samples from the whole video, one segment blurred with them."""
    source, faces = face_video
    found = process.detect(source, HaarFaceDetector(), sample_hz=3.0)
    info = video.probe(source)
    out = tmp_path / "part.mp4"
    done = process.blur_samples(source, out, found.samples, info, process.Segment(20, 15))
    assert done.frames == 15 and done.rects_blurred >= 15 and done.review_png
    original = list(video.frames(source))[20:35]
    for (x0, y0, x1, y1), a, b in zip(faces[20:35], original, video.frames(out), strict=True):
        assert sharpness(b[y0:y1, x0:x1]) < 0.1 * sharpness(a[y0:y1, x0:x1])
