"""Detect faces in a video and blur them: the steps, on local files.

``detect`` samples frames at ``sample_hz`` and runs a detector on them;
``blur`` rewrites every frame with the boxes of the surrounding samples
blurred. They are separate because in the workflow detection may be
Rekognition's (an AWS job) while blurring is always ours.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from chalicelib.errors import CorruptInput, TooLarge
from chalicelib.faces import video
from chalicelib.faces.blurring import blur_rects_yuv420, blur_whole_yuv420
from chalicelib.faces.detection import blur_boxes, blur_rects, blur_whole, boxes_for, to_pixels
from chalicelib.faces.messages import Box, Sample
from chalicelib.faces.review import ReviewSheet
from chalicelib.faces.tracking import (
    CoverageSettings,
    CoverageStats,
    Covered,
    FaceCoverage,
    RegionDetector,
)

Progress = Callable[[int, int], None]  # (frames done, frames expected)
# Larger frames are refused before any is decoded: a segment holds ~35 frames in its
# lookahead (a 17-MP frame 25 MB as YUV 4:2:0, 50 MB as BGR: ~1.8 GB of a 3-GB function
# at worst). 4K is 8.3 MP, a 5.3K action camera 15.9; 8K (33 MP) would not fit.
MAX_FRAME_PIXELS = 17_000_000


class FaceDetector(Protocol):
    name: str

    def detect(self, frame: np.ndarray) -> tuple[Box, ...]: ...


@dataclass
class Timings:
    """Seconds spent per stage (for the benchmark and the result document).

    ``anonymise`` counts CPU seconds (``time.process_time``; for ``encode`` also
    the ffmpeg encoder's own CPU time, for ``decode`` the ffmpeg decoder's), so
    figures hold on a loaded machine;
    ``detect`` and ``blur`` (the older sample-based path) count wall time.
    """

    decode: float = 0.0
    detect: float = 0.0  # detection (the cascades); with ``detect`` below, also tracking
    blur: float = 0.0
    encode: float = 0.0
    track: float = 0.0  # grey copies, motion, optical flow, holding: ``anonymise`` only

    @property
    def total(self) -> float:
        return self.decode + self.detect + self.blur + self.encode + self.track

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
    return checked_video(path, max_seconds)[0]


def checked_video(
    path: Path, max_seconds: float
) -> tuple[video.VideoInfo, list[float | None] | None]:
    """``check_video``, and the frames' times (``video.packet_times``) to seek ranges by.

    The frame count is the header's, or the packets counted when there are more (a
    header that understates the length would otherwise cut the planned output short
    and let a long video past ``max_seconds``).
    """
    info = video.probe(path)
    if info.width * info.height > MAX_FRAME_PIXELS:  # each decoded frame held whole
        raise TooLarge(
            f"the video's frames are {info.width}x{info.height}; the limit is "
            f"{MAX_FRAME_PIXELS / 1e6:.0f} megapixels a frame (4K is 8.3)"
        )
    limit = int(max_seconds * info.fps) + 1
    times = video.packet_times(path, limit)
    counted = None if times is None else len(times)
    if counted is not None and counted > max(limit, info.frames):
        raise TooLarge(
            f"the video runs past the limit of {max_seconds:.0f} s "
            f"(its header claims {info.duration_s:.0f} s)"
        )
    if counted is not None and counted > info.frames:
        info = replace(info, frames=counted)
    if info.duration_s > max_seconds:
        raise TooLarge(
            f"the video is {info.duration_s:.0f} s long; the limit is {max_seconds:.0f} s"
        )
    return info, times


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


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` to ``start + count`` of a video; ``context`` frames either side
    are read too (tracking and holding see across the cut) but not written."""

    start: int
    count: int
    context: int = 0
    at: float | None = None  # where reading (context included) is sought: ``video.seek_time``


@dataclass(frozen=True)
class Anonymised:
    frames: int
    rects_blurred: int
    codec: str
    strict: bool
    stats: CoverageStats
    timings: Timings
    review_png: bytes | None = None


def anonymise(
    source: Path,
    target: Path,
    detector: RegionDetector,
    info: video.VideoInfo,
    *,
    settings: CoverageSettings | None = None,
    segment: Segment | None = None,
    audio: bool = True,
    review_tiles: int = 12,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Anonymised:
    """Detect, track and blur every face of ``source`` (or of one segment) in one pass.

    Frames are decoded once; ``FaceCoverage`` hands each back a fixed number of
    frames later with the rectangles to blur, and it is written to ``target``
    (H.264; the source's audio is copied when ``audio`` and no segment is given).
    With ffmpeg and an even size, frames stay in the codec's YUV 4:2:0 from the
    decoder to the encoder (the detector and the tracker use the luma plane): no
    colour conversion, and the background reaches the encoder untouched.
    Returns counts, timings per stage, the coverage statistics and (when
    ``review_tiles``) the review sheet as PNG bytes.
    """
    settings = settings or CoverageSettings()
    first, count, before = _frame_range(segment, info)
    coverage = FaceCoverage(detector, (info.width, info.height), info.fps, settings)
    expected = info.frames if segment is None else count
    sheet = ReviewSheet(expected, info.fps, tiles=review_tiles) if review_tiles else None
    timings = Timings()
    state = _Output(first=before, count=count, sheet=sheet, timings=timings)
    yuv = video.can_decode_yuv420(info.width, info.height)
    state.yuv_height = info.height if yuv else None
    # Frames once written go back to the decoder to be filled again (fresh memory for
    # every 1080p frame costs page faults; ``video.FramePool``).
    state.pool = video.FramePool() if yuv else None
    children = _children_cpu()
    writer = video.VideoWriter(
        target,
        info.width,
        info.height,
        info.fps,
        audio_from=source if audio and segment is None else None,
        threads=threads,
    )
    with writer as out:
        state.out = out
        clock = time.process_time()
        frames = _source_frames(
            source, segment, first - before, count + before, threads, state.pool
        )
        for frame in frames:
            decoded = time.process_time()
            grey = video.luma(frame, info.height) if yuv else None  # (as tracking's own)
            ready = coverage.push(frame, grey)
            timings.decode += decoded - clock
            timings.track += time.process_time() - decoded
            state.write(ready)
            clock = time.process_time()
            if progress is not None:
                progress(state.written, expected)
        # The decoder (an ffmpeg process, when there is one) has ended: its CPU time.
        decoder = _children_cpu()
        timings.decode += time.process_time() - clock + decoder - children
        started = time.process_time()
        ready = coverage.finish()
        timings.track += time.process_time() - started
        state.write(ready)
        closing = time.process_time()
    # The encoder (and, for segments, the decoder) run as ffmpeg processes: their
    # CPU time counts too. (Children of other threads would be counted as well;
    # the container runs one video at a time.)
    timings.encode += time.process_time() - closing + _children_cpu() - decoder
    timings.detect = coverage.stats.detect_cpu_s
    timings.track -= coverage.stats.detect_cpu_s
    if state.written == 0:
        target.unlink(missing_ok=True)
        raise CorruptInput("the video has no frames")
    return Anonymised(
        frames=state.written,
        rects_blurred=state.rects,
        codec=out.codec,
        strict=settings.strict,
        stats=coverage.stats,
        timings=timings,
        review_png=sheet.png() if sheet is not None else None,
    )


def _children_cpu() -> float:
    """CPU seconds of this process's finished child processes (ffmpeg)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _frame_range(segment: Segment | None, info: video.VideoInfo) -> tuple[int, int, int]:
    """(first frame written, frames written, context frames read before it)."""
    if segment is None:
        return 0, 1 << 62, 0
    before = min(segment.context, segment.start)
    return segment.start, segment.count, before


def _source_frames(
    source: Path,
    segment: Segment | None,
    start: int,
    count: int,
    threads: int | None,
    pool: video.FramePool | None,
) -> Iterator[np.ndarray]:
    """I420 frames (decoded into ``pool``'s buffers) when there is a pool, else BGR."""
    if pool is not None:
        if segment is None:  # the whole file, however many frames its container claims
            return video.yuv420_frames(source, threads=threads, pool=pool)
        return video.yuv420_frames(
            source, start, count + segment.context, threads, pool, segment.at
        )
    if segment is None:
        return video.frames(source)
    return video.frames(source, start, count + segment.context, segment.at)


@dataclass
class _Output:
    """Writes the frames of the range (dropping context frames), blurred, timed."""

    first: int  # index, in the decoded stream, of the first frame to write
    count: int
    sheet: ReviewSheet | None
    timings: Timings
    out: video.VideoWriter | None = None
    yuv_height: int | None = None  # frames are I420 of this picture height (else BGR)
    pool: video.FramePool | None = None  # where written frames' buffers go back
    written: int = 0
    rects: int = 0

    def write(self, ready: list[Covered]) -> None:
        assert self.out is not None
        for covered in ready:
            position = covered.index - self.first
            if position < 0 or position >= self.count:
                self._done_with(covered)
                continue
            started = time.process_time()
            self._blur(covered)
            if self.sheet is not None and self.sheet.wants(position):
                frame = covered.frame
                if self.yuv_height is not None:
                    frame = cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_I420)
                self.sheet.offer(position, frame, covered.rects, covered.whole)
            blurred = time.process_time()
            if self.yuv_height is not None:
                self.out.write_yuv420(covered.frame)
            else:
                self.out.write(covered.frame)
            self.timings.blur += blurred - started
            self.timings.encode += time.process_time() - blurred
            self.written += 1
            self._done_with(covered)

    def _done_with(self, covered: Covered) -> None:
        """The frame's buffer back to the decoder: the encoder has its own copy (x264
        copies the picture before ``encode`` returns; a pipe, the bytes), and the
        review sheet took a BGR copy."""
        if self.pool is not None:
            self.pool.give(covered.frame)

    def _blur(self, covered: Covered) -> None:
        if self.yuv_height is None:
            if covered.whole:
                blur_whole(covered.frame)
            else:
                self.rects += blur_rects(covered.frame, covered.rects, covered.cores)
        elif covered.whole:
            blur_whole_yuv420(covered.frame, self.yuv_height)
        else:
            self.rects += blur_rects_yuv420(
                covered.frame, self.yuv_height, covered.rects, covered.cores
            )


def blur_samples(
    source: Path,
    target: Path,
    samples: list[Sample],
    info: video.VideoInfo,
    segment: Segment,
    review_tiles: int = 4,
    times: list[float | None] | None = None,
) -> Anonymised:
    """One segment blurred with detections made elsewhere (Rekognition's samples):
    each frame gets the boxes of the samples around it, as ``blur`` does.

    ``times`` (``video.packet_times``): each frame's own time, to seek the segment and
    to match it with the samples' times; without them frame ``i`` is taken to be at
    ``i / fps``, which at a variable frame rate is another frame's time.
    """
    ordered = sorted(samples, key=lambda s: s.t_ms)
    stats = CoverageStats()
    timings = Timings()
    sheet = ReviewSheet(segment.count, info.fps, tiles=review_tiles) if review_tiles else None
    blurred = 0
    with video.VideoWriter(target, info.width, info.height, info.fps) as out:
        # (not ``segment.at``: that is where reading with context starts; none is read here)
        at = video.seek_time(times, segment.start)
        frames = video.frames(source, segment.start, segment.count, at)
        for position, frame in enumerate(frames):
            started = time.perf_counter()
            boxes = boxes_for(ordered, _time_ms(times, segment.start + position, info.fps))
            blurred += blur_boxes(frame, boxes)
            if sheet is not None and sheet.wants(position):
                sheet.offer(position, frame, _pixel_rects(boxes, info), False)
            stats.frames += 1
            stats.frames_with_boxes += bool(boxes)
            stats.max_faces = max(stats.max_faces, len(boxes))
            done = time.perf_counter()
            out.write(frame)
            timings.blur += done - started
            timings.encode += time.perf_counter() - done
    return Anonymised(
        frames=out.frames,
        rects_blurred=blurred,
        codec=out.codec,
        strict=False,
        stats=stats,
        timings=timings,
        review_png=sheet.png() if sheet is not None else None,
    )


def _time_ms(times: list[float | None] | None, index: int, fps: float) -> float:
    """Milliseconds of frame ``index``: its own time when known, else ``index / fps``.

    >>> _time_ms([0.0, 0.25], 1, 10.0), _time_ms(None, 1, 10.0), _time_ms([0.0], 3, 10.0)
    (250.0, 100.0, 300.0)
    """
    known = times[index] if times is not None and 0 <= index < len(times) else None
    return known * 1000.0 if known is not None else index * 1000.0 / fps


def _pixel_rects(boxes: tuple[Box, ...], info: video.VideoInfo) -> list[tuple[int, int, int, int]]:
    rects = []
    for box in boxes:
        x0, y0, x1, y1 = to_pixels(box, info.width, info.height)
        rects.append((x0, y0, x1 - x0, y1 - y0))
    return rects
