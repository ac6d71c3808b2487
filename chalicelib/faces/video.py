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


def frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame, BGR uint8, in order."""
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


class VideoWriter:
    """Write BGR frames to ``path`` at ``fps``; a context manager.

    With ffmpeg: H.264 (yuv420p, or yuv444p for odd sizes so the size is kept),
    audio copied from ``audio_from`` when it has an audio track.
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: float,
        audio_from: Path | None = None,
        threads: int | None = None,
    ) -> None:
        self.path = path
        self.frames = 0
        self._size = (width, height)
        exe = ffmpeg_exe()
        self.codec = "h264" if exe else "mp4v"
        self._process: subprocess.Popen[bytes] | None = None
        self._cv: cv2.VideoWriter | None = None
        if exe:
            self._process = subprocess.Popen(
                _ffmpeg_command(exe, path, width, height, fps, audio_from, threads),
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


def _ffmpeg_command(
    exe: str,
    path: Path,
    width: int,
    height: int,
    fps: float,
    audio_from: Path | None,
    threads: int | None = None,
) -> list[str]:
    # yuv420p needs even sizes; yuv444p keeps an odd size exactly.
    pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    command = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24"]
    command += ["-s", f"{width}x{height}", "-r", f"{fps:.6f}", "-i", "-"]
    if audio_from is not None:
        command += ["-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", pix_fmt]
    if threads:
        command += ["-threads", str(threads)]
    return [*command, "-movflags", "+faststart", str(path)]
