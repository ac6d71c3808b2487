"""Detect faces in a video and blur them: the steps, on local files.

``detect`` samples frames at ``sample_hz`` and runs a detector on them;
``blur`` rewrites every frame with the boxes of the surrounding samples
blurred. They are separate because in the workflow detection may be
Rekognition's (an AWS job) while blurring is always ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from chalicelib.errors import CorruptInput, TooLarge
from chalicelib.faces import video
from chalicelib.faces.detection import blur_boxes, boxes_for
from chalicelib.faces.messages import Box, Sample

Progress = Callable[[int, int], None]  # (frames done, frames expected)


class FaceDetector(Protocol):
    name: str

    def detect(self, frame: np.ndarray) -> tuple[Box, ...]: ...


@dataclass
class Timings:
    """Seconds spent per stage (for the benchmark and the result document)."""

    decode: float = 0.0
    detect: float = 0.0
    blur: float = 0.0
    encode: float = 0.0

    def as_ms(self) -> dict[str, float]:
        return {k: round(v * 1e3, 1) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Detected:
    info: video.VideoInfo
    samples: list[Sample]
    frames: int
    timings: Timings = field(default_factory=Timings)


@dataclass(frozen=True)
class Blurred:
    frames: int
    boxes_blurred: int
    codec: str
    timings: Timings


def check_video(path: Path, max_seconds: float) -> video.VideoInfo:
    """Probe ``path`` and refuse, before any decoding, what cannot or must not be done."""
    info = video.probe(path)
    if info.duration_s > max_seconds:
        raise TooLarge(
            f"the video is {info.duration_s:.0f} s long; the limit is {max_seconds:.0f} s"
        )
    return info


def detect(
    path: Path,
    detector: FaceDetector,
    *,
    sample_hz: float = 5.0,
    max_seconds: float = 600.0,
    progress: Progress | None = None,
) -> Detected:
    """Faces on every ``fps / sample_hz``-th frame, and on the last frame.

    Raises ``CorruptInput`` for a video without frames or cut short (far fewer
    frames than its container promises), and ``TooLarge`` as soon as decoding
    passes ``max_seconds``: a header can understate the length.
    """
    info = check_video(path, max_seconds)
    frame_limit = int(max_seconds * info.fps) + 1
    every = max(1, round(info.fps / sample_hz))
    samples: list[Sample] = []
    timings = Timings()
    count, last = 0, None
    clock = time.perf_counter()
    for index, frame in enumerate(video.frames(path)):
        if index >= frame_limit:
            raise TooLarge(
                f"the video runs past the limit of {max_seconds:.0f} s "
                f"(its header claims {info.duration_s:.0f} s)"
            )
        now = time.perf_counter()
        timings.decode += now - clock
        count, last = index + 1, frame
        if index % every == 0:
            samples.append(Sample(index * 1000.0 / info.fps, detector.detect(frame)))
        clock = time.perf_counter()
        timings.detect += clock - now
        if progress is not None:
            progress(count, info.frames)
    if last is None:
        raise CorruptInput("the video has no frames")
    if (count - 1) % every != 0:  # cover the frames after the last regular sample
        samples.append(Sample((count - 1) * 1000.0 / info.fps, detector.detect(last)))
    if info.frames > 10 and count < 0.9 * info.frames:
        raise CorruptInput(f"the video is truncated: {count} of {info.frames} frames readable")
    return Detected(info, samples, count, timings)


def blur(
    source: Path,
    target: Path,
    samples: list[Sample],
    info: video.VideoInfo,
    progress: Progress | None = None,
    threads: int | None = None,
) -> Blurred:
    """Write ``source`` to ``target`` with every detected face blurred, frame by frame."""
    ordered = sorted(samples, key=lambda s: s.t_ms)
    timings = Timings()
    blurred = 0
    writer = video.VideoWriter(
        target, info.width, info.height, info.fps, audio_from=source, threads=threads
    )
    with writer as out:
        clock = time.perf_counter()
        for index, frame in enumerate(video.frames(source)):
            decoded = time.perf_counter()
            blurred += blur_boxes(frame, boxes_for(ordered, index * 1000.0 / info.fps))
            done = time.perf_counter()
            out.write(frame)
            timings.decode += decoded - clock
            timings.blur += done - decoded
            clock = time.perf_counter()
            timings.encode += clock - done
            if progress is not None:
                progress(index + 1, info.frames)
    if out.frames == 0:
        target.unlink(missing_ok=True)
        raise CorruptInput("the video has no frames")
    return Blurred(out.frames, blurred, out.codec, timings)
