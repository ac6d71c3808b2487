"""The one module that reads and writes video files.

Decoding uses OpenCV's FFmpeg backend for BGR frames; YUV 4:2:0 frames (the
face pipeline's) are decoded in this process by PyAV (the ``av`` wheel, FFmpeg's
libraries) when it is installed, else piped from the ffmpeg binary shipped in the
``imageio-ffmpeg`` wheel. Encoding writes H.264 (``libx264``): in this process
through PyAV for even sizes without an audio track to copy, else by piping raw
frames to the ffmpeg binary (which copies the source's audio). Without either,
OpenCV writes MPEG-4 Part 2 (``mp4v``) with no audio.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import cv2
import numpy as np

from chalicelib.errors import CorruptInput, UnsupportedType

try:  # FFmpeg's libraries in this process: no pipes, no process start (issue 14m)
    import av
except ImportError:  # pragma: no cover - the pipes to the ffmpeg binary instead
    av = None  # type: ignore[assignment]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi")


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int  # as the container reports it (may be approximate)

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0


def ffmpeg_exe() -> str | None:
    """Path of an ffmpeg binary: imageio-ffmpeg's, else one on PATH, else None."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


def output_codec() -> str:
    return "h264" if ffmpeg_exe() else "mp4v"


def probe(path: Path) -> VideoInfo:
    """Size, frame rate and frame count from the container, without decoding frames."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise UnsupportedType("the file is not a readable video")
        info = VideoInfo(
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
            frames=max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
        )
    finally:
        capture.release()
    if info.width <= 0 or info.height <= 0:
        raise UnsupportedType("the file has no video stream")
    if info.fps <= 0 or info.fps > 1000:
        raise CorruptInput(f"the video reports an invalid frame rate ({info.fps})")
    return info


def packet_times(path: Path, limit: int) -> list[float | None] | None:
    """The presentation times (seconds from the stream's start, ascending; None for a
    packet without one) of the first video stream's packets, found by demuxing (no
    decoding), at most ``limit + 1`` of them; None without PyAV or a video stream.

    A container's frame count is only what its header says: a patched or sloppy header
    can understate the length, and frames past it would be planned out of the output.
    With a variable frame rate, frame ``i`` is not at ``i / fps``: a range starts at its
    frame's own time (``frames``' ``at``). Packets the demuxer marks to discard (edit
    lists) are left out.
    """
    if av is None:
        return None
    times: list[float | None] = []
    try:
        with av.open(str(path)) as box:
            if not box.streams.video:
                return None
            stream = box.streams.video[0]
            base, origin = stream.time_base, stream.start_time or 0
            for packet in box.demux(stream):
                if packet.size and not packet.is_discard:
                    pts = packet.pts
                    times.append(None if pts is None or not base else float((pts - origin) * base))
                    if len(times) > limit:
                        break
    except av.FFmpegError:  # cut short: what was read
        pass
    if all(t is not None for t in times):
        times.sort()  # (decoding order to presentation order)
    return times


def seek_time(times: list[float | None] | None, index: int) -> float | None:
    """Seconds halfway between frame ``index - 1`` and frame ``index`` (``packet_times``),
    where a range starting at ``index`` is sought; None when not known.

    >>> seek_time([0.0, 0.2, 0.25], 2), seek_time([0.0, None], 1), seek_time(None, 3)
    (0.225, None, None)
    """
    if times is None or not 0 < index < len(times):
        return None
    before, at = times[index - 1], times[index]
    if before is None or at is None:
        return None
    return (before + at) / 2


def frames(
    path: Path, start: int = 0, count: int | None = None, at: float | None = None
) -> Iterator[np.ndarray]:
    """Every frame, BGR uint8, in order; or ``count`` frames from frame ``start``.

    A range is read by ffmpeg with an accurate input seek (it decodes from the
    keyframe before ``start`` and drops what comes before it), so consecutive
    ranges hold every frame exactly once. The seek goes to ``at`` seconds when given
    (``seek_time``: exact at a variable frame rate), else to ``(start - 0.5) / fps``.
    """
    if start > 0 or count is not None:
        yield from _frame_range(path, start, count, at)
        return
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


def _frame_range(
    path: Path, start: int, count: int | None, at: float | None = None
) -> Iterator[np.ndarray]:
    info = probe(path)
    if ffmpeg_exe() is None:  # OpenCV: decode and drop (slow, but exact)
        for index, frame in enumerate(frames(path)):
            if index >= start + (count if count is not None else 1 << 62):
                return
            if index >= start:
                yield frame
        return
    yield from _ffmpeg_frames(path, info, "bgr24", start, count, at=at)


def yuv420_frames(
    path: Path,
    start: int = 0,
    count: int | None = None,
    threads: int | None = None,
    pool: FramePool | None = None,
    at: float | None = None,
) -> Iterator[np.ndarray]:
    """Every frame (or ``count`` from ``start``) as YUV 4:2:0, the codec's own format.

    Each frame is one writable ``(height * 3 // 2, width)`` uint8 array in OpenCV's
    ``I420`` layout: the luma plane (``frame[:height]``, limited range 16–235)
    then the U and V planes at half size (``u_plane``, ``v_plane``). No colour
    conversion is made, and a frame is a third of BGR's bytes less. A range is
    sought as in ``frames`` (``at``). Needs ffmpeg and an even width and height
    (``can_decode_yuv420``). With a ``pool``, frames are decoded into the buffers
    given back to it (``FramePool.give``).
    """
    info = probe(path)
    if not can_decode_yuv420(info.width, info.height):
        raise ValueError("YUV 4:2:0 frames need ffmpeg and an even width and height")
    pool = pool or FramePool()
    if av is not None:
        try:
            yield from _av_frames(path, info, start, count, threads, pool, at)
            return
        except _NotPlain:  # raised before any frame: the ffmpeg binary converts it
            pass
    yield from _ffmpeg_frames(path, info, "yuv420p", start, count, threads, pool, at)


class FramePool:
    """Frame buffers given back once their frame has been written, for the decoder to
    fill again instead of allocating new ones.

    A 1080p I420 frame is 3 MB and the face pipeline holds ~40 of them in its
    look-ahead: new buffers for every frame are fresh memory the kernel zeroes page
    by page (~60 000 page faults, ~0.1–0.2 s of system time in a 3-s clip).
    Only a buffer no one reads any more may be given back. At most ``limit``
    spare buffers are kept.

    >>> pool = FramePool()
    >>> first = pool.take((6, 4))
    >>> pool.give(first)
    >>> pool.take((6, 4)) is first, pool.take((6, 4)) is first
    (True, False)
    """

    def __init__(self, limit: int = 64) -> None:
        self._spare: list[np.ndarray] = []
        self._limit = limit

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        """A writable uint8 buffer of ``shape`` (a spare one when one fits; its contents
        are whatever was there)."""
        while self._spare:
            buffer = self._spare.pop()
            if buffer.shape == shape:
                return buffer
        return np.empty(shape, np.uint8)

    def give(self, buffer: np.ndarray) -> None:
        """Take back a buffer from ``take`` whose frame is no longer needed."""
        if len(self._spare) < self._limit:
            self._spare.append(buffer)


class _NotPlain(Exception):
    """The stream is not plain 8-bit YUV 4:2:0 of the probed size, upright, with
    timestamps where a range needs them: left to the ffmpeg binary (which converts
    pixel formats and ranges and applies rotation as it decodes)."""


def _av_frames(
    path: Path,
    info: VideoInfo,
    start: int = 0,
    count: int | None = None,
    threads: int | None = None,
    pool: FramePool | None = None,
    at: float | None = None,
) -> Iterator[np.ndarray]:
    """``yuv420_frames`` decoded in this process by PyAV: the same frames as the ffmpeg
    binary's pipe, for ~half its CPU at 1080p (no process, no copies through a pipe).

    A range starts as ``-ss`` does: seek to the keyframe before it and drop the frames
    before half a frame ahead of ``start``. Raises ``_NotPlain`` (before the first
    frame) for what the pipe would convert.
    """
    assert av is not None
    with av.open(str(path)) as box:
        if not box.streams.video:
            raise _NotPlain
        stream = box.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        base = stream.time_base or Fraction(0)
        origin = stream.start_time or 0
        first = _seek_seconds(start, info, at)  # seconds from the stream's start
        if start > 0:
            if not base:
                raise _NotPlain
            try:
                box.seek(origin + math.floor(first / base), stream=stream, backward=True)
            except av.FFmpegError as error:
                raise _NotPlain from error
        given = 0
        for frame in _decoded(box, stream):
            if given == 0 and not _plain(frame, info, start > 0):
                raise _NotPlain
            if start > 0 and frame.pts is not None and (frame.pts - origin) * base < first:
                continue
            if count is not None and given >= count:
                return
            given += 1
            shape = (info.height * 3 // 2, info.width)
            yield i420_into(frame, pool.take(shape) if pool else np.empty(shape, np.uint8))


def _seek_seconds(start: int, info: VideoInfo, at: float | None) -> float:
    """Where a range from frame ``start`` is sought: ``at``, else half a frame before
    ``start`` at the container's average rate (exact only at a constant rate)."""
    return at if at is not None else (start - 0.5) / info.fps


def i420_into(frame: Any, out: np.ndarray) -> np.ndarray:
    """PyAV's ``yuv420p`` ``frame`` copied into ``out`` ((h * 3/2, w) uint8, I420), plane
    by plane: what ``frame.to_ndarray()`` gives, but into a buffer the caller chose (a
    ``FramePool``'s) instead of a new array each time.
    """
    if any(plane.line_size < plane.width for plane in frame.planes):
        np.copyto(out, frame.to_ndarray())  # (a bottom-up picture: not what decoders give)
        return out
    flat = out.reshape(-1)  # (a view: ``out`` is contiguous)
    offset = 0
    for plane in frame.planes:
        height, width, line = plane.height, plane.width, plane.line_size
        rows = np.frombuffer(plane, np.uint8, height * line).reshape(height, line)
        flat[offset : offset + height * width].reshape(height, width)[...] = rows[:, :width]
        offset += height * width
    return out


def _decoded(box: Any, stream: Any) -> Iterator[Any]:
    """PyAV's frames of ``stream``: a packet the decoder rejects is skipped, and a file
    that cannot be read on ends the frames, as with the ffmpeg binary."""
    assert av is not None
    try:
        for packet in box.demux(stream):
            try:
                yield from packet.decode()
            except av.FFmpegError:  # a broken packet
                continue
    except av.FFmpegError:  # cut short
        return


def _plain(frame: Any, info: VideoInfo, timed: bool) -> bool:
    """Whether PyAV's ``frame`` is what the pipe would give unchanged."""
    return bool(
        frame.format.name == "yuv420p"
        and (frame.width, frame.height) == (info.width, info.height)
        and not frame.rotation
        and (frame.pts is not None or not timed)
    )


def even_size(width: int, height: int) -> bool:
    """Whether a picture fits YUV 4:2:0 (chroma at half width and height) exactly."""
    return width % 2 == 0 and height % 2 == 0


def can_decode_yuv420(width: int, height: int) -> bool:
    return even_size(width, height) and ffmpeg_exe() is not None


def luma(frame: np.ndarray, height: int) -> np.ndarray:
    """The grey image of an I420 frame as the BGR path gave it (a new array): the luma
    plane stretched from 16–235 to 0–255.

    The offset is the one OpenCV's decoder (swscale) gives: its BGR, turned grey by
    ``COLOR_BGR2GRAY``, is 1.164·Y − 19.9 (fitted on the test set; the exact stretch,
    −18.6, is 1.3 levels brighter). The cascades were tuned on that grey and
    react to such a shift (one dev case grew a second track), so the same grey is
    kept: within 0.25 level on average of the BGR path's (max 8 at saturated colours).

    >>> frame = np.full((6, 4), 128, np.uint8)
    >>> frame[:4] = 235
    >>> luma(frame, 4)[0, 0], luma(frame, 4).shape
    (np.uint8(254), (4, 4))
    """
    # (a look-up table gives the same, rounded and saturated, in 4/3 of the time)
    return np.asarray(cv2.addWeighted(frame[:height], 255 / 219, frame[:height], 0.0, -19.9))


def u_plane(frame: np.ndarray, height: int) -> np.ndarray:
    """The U (Cb) plane of an I420 frame, ``(height // 2, width // 2)``: a view.

    Taken from the flat buffer: when ``height`` is 2 mod 4 (e.g. 1280×534) the
    chroma planes do not start on a row of the ``(height * 3 // 2, width)`` array.

    >>> frame = np.arange(6 * 4, dtype=np.uint8).reshape(6, 4)  # 4x4 picture
    >>> u_plane(frame, 4).tolist(), v_plane(frame, 4).tolist()
    ([[16, 17], [18, 19]], [[20, 21], [22, 23]])
    >>> u_plane(np.zeros((9, 4), np.uint8), 6).shape  # height 6: U starts mid-row
    (3, 2)
    """
    return _chroma(frame, height, 0)


def v_plane(frame: np.ndarray, height: int) -> np.ndarray:
    """The V (Cr) plane of an I420 frame, ``(height // 2, width // 2)``: a view."""
    return _chroma(frame, height, 1)


def _chroma(frame: np.ndarray, height: int, which: int) -> np.ndarray:
    if not frame.flags.c_contiguous:  # a copy would be blurred instead of the frame
        raise ValueError("an I420 frame must be one contiguous buffer")
    width = frame.shape[1]
    size = (height // 2) * (width // 2)
    start = height * width + which * size
    return frame.reshape(-1)[start : start + size].reshape(height // 2, width // 2)


def _ffmpeg_frames(
    path: Path,
    info: VideoInfo,
    pix_fmt: str,
    start: int = 0,
    count: int | None = None,
    threads: int | None = None,
    pool: FramePool | None = None,
    at: float | None = None,
) -> Iterator[np.ndarray]:
    """Raw frames from the ffmpeg binary: ``bgr24`` as (h, w, 3), ``yuv420p`` as I420.

    A range is read with an accurate input seek (ffmpeg decodes from the keyframe
    before ``start`` and drops what comes before it), so consecutive ranges hold
    every frame exactly once. Frames are read straight into new writable buffers
    (no copy).
    """
    exe = ffmpeg_exe()
    assert exe is not None
    command = [exe, "-loglevel", "error", "-nostdin"]
    if threads:
        command += ["-threads", str(threads)]
    if start > 0:  # half a frame early: the frame at ``start`` is the first kept
        command += ["-ss", f"{_seek_seconds(start, info, at):.6f}"]
    command += ["-i", str(path), "-map", "0:v:0"]
    if count is not None:
        command += ["-frames:v", str(count)]
    command += ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-fps_mode", "passthrough", "-"]
    if pix_fmt == "yuv420p":
        shape: tuple[int, ...] = (info.height * 3 // 2, info.width)
    else:
        shape = (info.height, info.width, 3)
    size = math.prod(shape)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    try:
        while True:
            # np.empty, not bytearray(size): no zero-filling of memory read over at
            # once, and freed frames' memory is reused (~0.4 ms per 1080p frame).
            buffer = pool.take(shape).reshape(-1) if pool else np.empty(size, np.uint8)
            if _read_into(process.stdout, buffer) < size:
                break
            yield buffer.reshape(shape)
    finally:
        process.kill()
        process.communicate()


def _read_into(stream: IO[bytes], buffer: np.ndarray) -> int:
    """Fill ``buffer`` (flat, uint8) from ``stream``; the bytes read (fewer only at the end)."""
    view, done = memoryview(buffer.data), 0
    while done < len(buffer):
        got = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not got:
            break
        done += got
    return done


def join(
    parts: list[Path],
    target: Path,
    audio_from: Path | None = None,
    times: list[float | None] | None = None,
) -> None:
    """Concatenate H.264 ``parts`` (same size and rate) into ``target`` without re-encoding
    the video, with the audio of ``audio_from`` laid over it in one piece (no drift).

    The parts are written at the source's average rate. When ``times`` (the source's
    frames' own times, ``packet_times``) show a variable rate, the joined frames are
    put back at those times (``retime``) before the audio is laid over: at the average
    rate a frame shown late or early in the source would be shown at another time than
    its sound.
    """
    exe = ffmpeg_exe()
    if exe is None:
        raise RuntimeError("joining segments needs ffmpeg (imageio-ffmpeg)")
    listing = target.with_suffix(".parts.txt")
    listing.write_text("".join(f"file '{p.resolve()}'\n" for p in parts))
    concat = [exe, "-y", "-loglevel", "error", "-nostdin", "-f", "concat", "-safe", "0"]
    concat += ["-i", str(listing)]
    shown = variable_times(times)
    if shown is None:
        if audio_from is not None:
            concat += ["-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac"]
        try:
            _ffmpeg([*concat, "-c:v", "copy", "-movflags", "+faststart", str(target)])
        finally:
            listing.unlink(missing_ok=True)
        return
    joined, retimed = target.with_suffix(".joined.mp4"), target.with_suffix(".retimed.mp4")
    try:
        _ffmpeg([*concat, "-map", "0:v:0", "-c:v", "copy", str(joined)])
        picture = retimed if retime(joined, retimed, shown) else joined
        command = [exe, "-y", "-loglevel", "error", "-nostdin", "-i", str(picture)]
        if audio_from is not None:
            command += ["-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac"]
        _ffmpeg([*command, "-c:v", "copy", "-movflags", "+faststart", str(target)])
    finally:
        for path in (listing, joined, retimed):
            path.unlink(missing_ok=True)


def _ffmpeg(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()[-500:]
        raise RuntimeError(f"ffmpeg failed to join the segments: {message}")


def variable_times(times: list[float | None] | None) -> list[float] | None:
    """``times`` (``packet_times``) when every frame's is known and they show a variable
    rate (``variable_rate``): what ``join`` puts the frames back at; else None.

    >>> variable_times([0.0, 0.2, 0.233, 0.267]), variable_times([0.0, None, 0.3, 0.5])
    ([0.0, 0.2, 0.233, 0.267], None)
    """
    if times is None or any(t is None for t in times):
        return None
    known = [t for t in times if t is not None]
    return known if variable_rate(known) else None


def variable_rate(times: list[float]) -> bool:
    """Whether frames at ``times`` (seconds, ascending) stray from a constant rate by
    more than half a frame anywhere (a constant rate's rounding in its time base does
    not).

    >>> variable_rate([0.0, 0.04, 0.08, 0.12]), variable_rate([0.0, 0.2, 0.233, 0.267])
    (False, True)
    """
    if len(times) < 3:
        return False
    step = (times[-1] - times[0]) / (len(times) - 1)
    if step <= 0:
        return False
    drift = np.abs(np.asarray(times) - (times[0] + step * np.arange(len(times))))
    return bool(drift.max() > step / 2)


# The time base of a retimed video: 90 kHz, MPEG's clock (a millisecond is 90 ticks).
RETIME_BASE = Fraction(1, 90_000)


def retime(path: Path, target: Path, times: list[float]) -> bool:
    """Copy the video stream of ``path`` to ``target`` (MP4, no re-encoding) with its
    ``i``-th frame at ``times[i]`` seconds from the first. False, and nothing written,
    without PyAV, when the frame count differs from ``len(times)`` or the stream's
    frames are not stored in the order they are shown (B-frames: not what this
    project's encoder writes)."""
    if av is None:
        return False
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        packets = [p for p in box.demux(stream) if p.size]
        shown = [p.pts for p in packets]
        if len(packets) != len(times) or any(pts is None for pts in shown):
            return False
        if any(b is None or a is None or b <= a for a, b in itertools.pairwise(shown)):
            return False  # frames stored out of the order they are shown
        ticks = [round((t - times[0]) / RETIME_BASE) for t in times]
        if any(b <= a for a, b in itertools.pairwise(ticks)):
            return False
        last = ticks[-1] - ticks[-2] if len(ticks) > 1 else round(Fraction(1, 30) / RETIME_BASE)
        try:
            with av.open(str(target), "w", format="mp4") as out:
                copy = out.add_stream_from_template(stream)
                copy.time_base = RETIME_BASE
                for i, packet in enumerate(packets):
                    packet.stream = copy
                    packet.time_base = RETIME_BASE
                    packet.pts = packet.dts = ticks[i]
                    packet.duration = ticks[i + 1] - ticks[i] if i + 1 < len(ticks) else last
                    out.mux(packet)
        except av.FFmpegError as error:
            target.unlink(missing_ok=True)
            raise RuntimeError(f"failed to retime the joined video: {error}") from error
    return True


def audio_duration(path: Path) -> float | None:
    """Seconds of the first audio stream (None without audio), as ffmpeg decodes it."""
    exe = ffmpeg_exe()
    if exe is None:
        return None
    command = [exe, "-nostdin", "-i", str(path), "-map", "0:a:0", "-f", "null", "-"]
    done = subprocess.run(command, capture_output=True, check=False)
    text = done.stderr.decode(errors="replace")
    if done.returncode != 0 or "time=" not in text:
        return None
    stamp = text.rsplit("time=", 1)[1].split()[0]
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


class VideoWriter:
    """Write BGR frames to ``path`` at ``fps``; a context manager.

    With ffmpeg: H.264 (yuv420p, or yuv444p for odd sizes so the size is kept),
    audio copied from ``audio_from`` when it has an audio track. For even sizes
    the frames are converted to YUV 4:2:0 here (OpenCV, BT.601) and piped as
    such: half the bytes through the pipe and no conversion inside ffmpeg, which
    cost ffmpeg about 40 % of its time at 1080p (``lab bench blur`` measures it).
    x264 runs at the constant quantiser ``ENCODER_QP``, or at ``crf`` when given
    (the test set's sources keep CRF 18). Even sizes with no audio to copy are
    encoded in this process by PyAV when it is installed (the same libx264
    settings, no process and no pipe: ~1.5–2 ms less CPU per 1080p frame).
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: float,
        audio_from: Path | None = None,
        threads: int | None = None,
        preset: str | None = None,
        crf: int | None = None,
    ) -> None:
        self.path = path
        self.frames = 0
        self._size = (width, height)
        self._yuv = even_size(width, height)
        exe = ffmpeg_exe()
        self.codec = "h264" if exe or av is not None else "mp4v"
        self._process: subprocess.Popen[bytes] | None = None
        self._cv: cv2.VideoWriter | None = None
        self._av: _AvEncoder | None = None
        if _av_encodes() and self._yuv and not (audio_from and has_audio(audio_from)):
            self._av = _AvEncoder(path, width, height, fps, threads, preset, crf)
        elif exe:
            self._process = subprocess.Popen(
                _ffmpeg_command(exe, path, width, height, fps, audio_from, threads, preset, crf),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        else:
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._cv = cv2.VideoWriter(str(path), fourcc, fps, (width, height))

    def write(self, frame: np.ndarray) -> None:
        if (self._process is not None or self._av is not None) and self._yuv:
            self._pipe(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420))
        elif self._process is not None:
            self._pipe(frame)
        elif self._cv is not None:
            self.frames += 1
            self._cv.write(frame)

    def write_yuv420(self, frame: np.ndarray) -> None:
        """Write an I420 frame (``yuv420_frames``' layout): piped as it is, no conversion."""
        if (self._process is None and self._av is None) or not self._yuv:
            self.write(cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_I420))  # OpenCV's writer: BGR
            return
        self._pipe(frame)

    def _pipe(self, frame: np.ndarray) -> None:
        """Send one frame, in the format the encoder was started for, to ffmpeg."""
        self.frames += 1
        if self._av is not None:
            self._av.encode(frame)
            return
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(np.ascontiguousarray(frame).data)

    def close(self) -> None:
        if self._cv is not None:
            self._cv.release()
        if self._av is not None:
            self._av.close()
        if self._process is not None:
            _out, errors = self._process.communicate()  # closes stdin, waits, closes pipes
            if self._process.returncode != 0:
                message = errors.decode(errors="replace").strip()[-500:]
                raise RuntimeError(f"ffmpeg failed to encode the video: {message}")

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:  # do not leave a half-written file or a running ffmpeg behind
            if self._av is not None:
                self._av.abandon()
            if self._process is not None:
                self._process.kill()
                self._process.communicate()
            if self._cv is not None:
                self._cv.release()
            self.path.unlink(missing_ok=True)


def _av_encodes() -> bool:
    """Whether PyAV is installed with libx264 (its wheels are; a build of its own may not be)."""
    return av is not None and "libx264" in av.codecs_available


def has_audio(path: Path) -> bool:
    """Whether ``path`` has an audio stream (True when it cannot be told: the ffmpeg
    binary's ``-map 1:a:0?`` then decides)."""
    if av is None:
        return True
    try:
        with av.open(str(path)) as box:
            return bool(box.streams.audio)
    except av.FFmpegError:
        return True


class _AvEncoder:
    """libx264 through PyAV, in this process, with ``_ffmpeg_command``'s settings:
    I420 frames in, an MP4 with its index at the front (``+faststart``) out."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: float,
        threads: int | None,
        preset: str | None,
        crf: int | None,
    ) -> None:
        assert av is not None
        self._path = path
        self._box = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        # The ffmpeg binary reads ``-r 29.970030`` as 30000/1001 likewise.
        rate = frame_rate(fps)
        self._stream = self._box.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = 1 / rate
        self._stream.options = {
            "preset": preset or encoder_preset(width, height),
            **({"crf": str(crf)} if crf is not None else {"qp": str(ENCODER_QP)}),
        }
        if threads:
            self._stream.codec_context.thread_count = threads
        self._next = 0

    def encode(self, frame: np.ndarray) -> None:
        assert av is not None
        frame = np.ascontiguousarray(frame)
        if frame.shape[0] % 6 == 0:
            # The frame's own memory, not a copy (1-3 ms per 1080p frame): x264 copies the
            # picture into its own buffers before ``encode`` returns. (PyAV finds the chroma
            # planes by whole rows: not when the picture's height is 2 mod 4.)
            picture = av.VideoFrame.from_numpy_buffer(frame, format="yuv420p")
        else:
            picture = av.VideoFrame.from_ndarray(frame, format="yuv420p")
        picture.pts = self._next
        self._next += 1
        self._mux(picture)

    def close(self) -> None:
        try:
            self._mux(None)  # flush the encoder
        finally:
            self._box.close()

    def _mux(self, picture: Any) -> None:
        """Encode ``picture`` (None: flush) and write its packets."""
        assert av is not None
        try:
            self._box.mux(self._stream.encode(picture))
        except av.FFmpegError as error:
            raise RuntimeError(f"failed to encode the video: {error}") from error

    def abandon(self) -> None:
        with contextlib.suppress(Exception):  # the file is removed anyway
            self._box.close()


def frame_rate(fps: float) -> Fraction:
    """``fps`` as a fraction, NTSC rates exact (what ffmpeg makes of ``-r``).

    >>> frame_rate(29.97002997), frame_rate(25.0), frame_rate(12.5)
    (Fraction(30000, 1001), Fraction(25, 1), Fraction(25, 2))
    """
    return Fraction(f"{fps:.6f}").limit_denominator(1001)


# x264's quantiser, constant (``-qp``): visually lossless. Rate control by CRF made
# x264 estimate each frame's cost on a quarter-size copy first and, at 1080p, spend
# 2.5x the bits (6.6 against 2.5 Mb/s on a test case): ~25 % more encoder CPU for
# 50 -> 55 dB against its input, far above what the eye or the 35-dB background
# target needs (issue 14i, docs/face-blurring.md).
ENCODER_QP = 18


def encoder_preset(width: int, height: int) -> str:
    """x264's ``ultrafast`` at every size (the quality setting, ``ENCODER_QP``, is kept).

    At 640×480 it costs 1.9–2.1 ms of ffmpeg CPU per frame against 2.9–3.5 ms for
    ``veryfast`` (the preset used up to 720p before), for the same or a higher
    PSNR (48 dB against the decoded source) and a file ~2.5× larger
    (docs/face-blurring.md). Above 720p encoding would otherwise take a third of
    one core's time at real time.
    """
    return "ultrafast"


def _ffmpeg_command(
    exe: str,
    path: Path,
    width: int,
    height: int,
    fps: float,
    audio_from: Path | None,
    threads: int | None = None,
    preset: str | None = None,
    crf: int | None = None,
) -> list[str]:
    # yuv420p needs even sizes; yuv444p keeps an odd size exactly.
    pix_fmt = "yuv420p" if even_size(width, height) else "yuv444p"
    piped = "yuv420p" if pix_fmt == "yuv420p" else "bgr24"  # what ``VideoWriter.write`` sends
    command = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", piped]
    command += ["-s", f"{width}x{height}", "-r", f"{fps:.6f}", "-i", "-"]
    if audio_from is not None:
        command += ["-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac"]
    command += [
        "-c:v",
        "libx264",
        "-preset",
        preset or encoder_preset(width, height),
        *(("-crf", str(crf)) if crf is not None else ("-qp", str(ENCODER_QP))),
        "-pix_fmt",
        pix_fmt,
    ]
    if threads:
        command += ["-threads", str(threads)]
    return [*command, "-movflags", "+faststart", str(path)]
