"""The one module that reads and writes video files.

Decoding uses OpenCV's FFmpeg backend; encoding pipes raw frames to the ffmpeg
binary shipped in the ``imageio-ffmpeg`` wheel, writing H.264 (``libx264``)
and copying the source's audio track. Without that package, OpenCV writes
MPEG-4 Part 2 (``mp4v``) with no audio.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from chalicelib.errors import CorruptInput, UnsupportedType

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


def frames(path: Path, start: int = 0, count: int | None = None) -> Iterator[np.ndarray]:
    """Every frame, BGR uint8, in order; or ``count`` frames from frame ``start``.

    A range is read by ffmpeg with an accurate input seek (it decodes from the
    keyframe before ``start`` and drops what comes before it), so consecutive
    ranges hold every frame exactly once.
    """
    if start > 0 or count is not None:
        yield from _frame_range(path, start, count)
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


def _frame_range(path: Path, start: int, count: int | None) -> Iterator[np.ndarray]:
    info = probe(path)
    exe = ffmpeg_exe()
    if exe is None:  # OpenCV: decode and drop (slow, but exact)
        for index, frame in enumerate(frames(path)):
            if index >= start + (count if count is not None else 1 << 62):
                return
            if index >= start:
                yield frame
        return
    command = [exe, "-loglevel", "error", "-nostdin"]
    if start > 0:  # half a frame early: the frame at ``start`` is the first kept
        command += ["-ss", f"{(start - 0.5) / info.fps:.6f}"]
    command += ["-i", str(path), "-map", "0:v:0"]
    if count is not None:
        command += ["-frames:v", str(count)]
    command += ["-f", "rawvideo", "-pix_fmt", "bgr24", "-fps_mode", "passthrough", "-"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    size = info.width * info.height * 3
    assert process.stdout is not None
    try:
        while True:
            data = process.stdout.read(size)
            if len(data) < size:
                break
            yield np.frombuffer(data, np.uint8).reshape(info.height, info.width, 3).copy()
    finally:
        process.kill()
        process.communicate()


def join(parts: list[Path], target: Path, audio_from: Path | None = None) -> None:
    """Concatenate H.264 ``parts`` (same size and rate) into ``target`` without re-encoding
    the video, with the audio of ``audio_from`` laid over it in one piece (no drift)."""
    exe = ffmpeg_exe()
    if exe is None:
        raise RuntimeError("joining segments needs ffmpeg (imageio-ffmpeg)")
    listing = target.with_suffix(".parts.txt")
    listing.write_text("".join(f"file '{p.resolve()}'\n" for p in parts))
    command = [exe, "-y", "-loglevel", "error", "-nostdin", "-f", "concat", "-safe", "0"]
    command += ["-i", str(listing)]
    if audio_from is not None:
        command += ["-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac"]
    command += ["-c:v", "copy", "-movflags", "+faststart", str(target)]
    try:
        done = subprocess.run(command, capture_output=True, check=False)
    finally:
        listing.unlink(missing_ok=True)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()[-500:]
        raise RuntimeError(f"ffmpeg failed to join the segments: {message}")


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
    ) -> None:
        self.path = path
        self.frames = 0
        self._size = (width, height)
        self._yuv = width % 2 == 0 and height % 2 == 0
        exe = ffmpeg_exe()
        self.codec = "h264" if exe else "mp4v"
        self._process: subprocess.Popen[bytes] | None = None
        self._cv: cv2.VideoWriter | None = None
        if exe:
            self._process = subprocess.Popen(
                _ffmpeg_command(exe, path, width, height, fps, audio_from, threads, preset),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        else:
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._cv = cv2.VideoWriter(str(path), fourcc, fps, (width, height))

    def write(self, frame: np.ndarray) -> None:
        self.frames += 1
        if self._process is not None:
            assert self._process.stdin is not None
            if self._yuv:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
            self._process.stdin.write(np.ascontiguousarray(frame).data)
        elif self._cv is not None:
            self._cv.write(frame)

    def close(self) -> None:
        if self._cv is not None:
            self._cv.release()
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
            if self._process is not None:
                self._process.kill()
                self._process.communicate()
            if self._cv is not None:
                self._cv.release()
            self.path.unlink(missing_ok=True)


def encoder_preset(width: int, height: int) -> str:
    """x264's ``veryfast`` up to 720p; ``ultrafast`` above, where encoding would
    otherwise take most of one core's time (the quality setting, CRF 18, is kept)."""
    return "veryfast" if width * height <= 1280 * 720 else "ultrafast"


def _ffmpeg_command(
    exe: str,
    path: Path,
    width: int,
    height: int,
    fps: float,
    audio_from: Path | None,
    threads: int | None = None,
    preset: str | None = None,
) -> list[str]:
    # yuv420p needs even sizes; yuv444p keeps an odd size exactly.
    pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
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
        "-crf",
        "18",
        "-pix_fmt",
        pix_fmt,
    ]
    if threads:
        command += ["-threads", str(threads)]
    return [*command, "-movflags", "+faststart", str(path)]
