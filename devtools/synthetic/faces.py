"""Generated videos with a known face: scikit-image's astronaut moving across a sharp grid.

For tests and the benchmark (scikit-image is a development dependency).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from chalicelib.faces import video

# The astronaut's face inside the patch, relative (x0, y0, x1, y1): where Haar finds it.
FACE_IN_PATCH = (47 / 200, 47 / 220, 140 / 200, 140 / 220)


def face_patch() -> np.ndarray:
    from skimage import data

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)  # type: ignore[no-untyped-call]
    return np.ascontiguousarray(astronaut[20:240, 130:330])  # head and shoulders


def background(width: int, height: int) -> np.ndarray:
    """A sharp grid: any blur leaking outside the faces shows as lost PSNR."""
    frame = np.full((height, width, 3), 30, np.uint8)
    for y in range(0, height, 16):
        cv2.line(frame, (0, y), (width, y), (60, 160, 60), 1)
    for x in range(0, width, 16):
        cv2.line(frame, (x, 0), (x, height), (160, 60, 60), 1)
    return frame


def moving_face(
    path: Path,
    frames: int = 30,
    size: tuple[int, int] = (320, 240),
    fps: float = 15.0,
    threads: int | None = None,
) -> list[tuple[int, int, int, int]]:
    """Write the video; return each frame's face rectangle (x0, y0, x1, y1) in pixels."""
    width, height = size
    face_h = height // 2
    face_w = round(face_h * 200 / 220)
    face = cv2.resize(face_patch(), (face_w, face_h), interpolation=cv2.INTER_AREA)
    base = background(width, height)
    boxes = []
    with video.VideoWriter(path, width, height, fps, threads=threads) as out:
        for i in range(frames):
            x = round((width - face_w) * i / max(1, frames - 1))
            y = (height - face_h) // 2
            frame = base.copy()
            frame[y : y + face_h, x : x + face_w] = face
            out.write(frame)
            fx0, fy0, fx1, fy1 = FACE_IN_PATCH
            boxes.append(
                (
                    x + round(fx0 * face_w),
                    y + round(fy0 * face_h),
                    x + round(fx1 * face_w),
                    y + round(fy1 * face_h),
                )
            )
    return boxes


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian: falls as an image is blurred."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
