"""Face detections and their use across frames (pure: arrays and values only).

A detection run yields ``Sample``s: the faces seen at one timestamp, as boxes
relative to the frame (0–1, like Rekognition's ``BoundingBox``). Between two
samples a face may move, so a frame is covered by the union of the boxes of
the samples before and after it, padded: no face is exposed between samples.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import cv2
import numpy as np

from chalicelib.faces.messages import Box, Sample


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade (shipped with opencv-python-headless 4.x).

    Frames are shrunk to ``width`` pixels first: detection cost falls with the
    pixel count, and faces of 24+ px at that width are still found.
    """

    name = "opencv"

    def __init__(self, width: int = 320, min_neighbors: int = 4) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade from {path}")
        self._width = width
        self._min_neighbors = min_neighbors

    def detect(self, frame: np.ndarray) -> tuple[Box, ...]:
        """Faces in one BGR or gray frame, as relative boxes.

        Parameters
        ----------
        frame : (M, N, 3) or (M, N) ndarray of uint8
        """
        width = frame.shape[1]
        scale = min(1.0, self._width / width)
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=self._min_neighbors, minSize=(24, 24)
        )
        small_h, small_w = gray.shape
        return tuple((x / small_w, y / small_h, w / small_w, h / small_h) for x, y, w, h in found)


def boxes_for(samples: Sequence[Sample], t_ms: float) -> tuple[Box, ...]:
    """Boxes to blur at time ``t_ms``: those of the samples just before and after.

    ``samples`` must be sorted by time.

    >>> s = [Sample(0, ((0.1, 0.1, 0.2, 0.2),)), Sample(200, ((0.3, 0.1, 0.2, 0.2),))]
    >>> len(boxes_for(s, 100))
    2
    """
    times = [s.t_ms for s in samples]
    after = bisect.bisect_left(times, t_ms)
    if after < len(samples) and times[after] == t_ms:  # a sampled frame: its own boxes
        return samples[after].boxes
    chosen: list[Box] = []
    if after < len(samples):
        chosen.extend(samples[after].boxes)
    if after > 0:
        chosen.extend(samples[after - 1].boxes)
    return tuple(chosen)


def to_pixels(box: Box, width: int, height: int, pad: float = 0.25) -> tuple[int, int, int, int]:
    """A relative box grown by ``pad`` of its size on each side, clamped to the frame.

    Returns (x0, y0, x1, y1) in pixels, possibly empty (x1 <= x0) for a box
    entirely outside the frame.

    >>> to_pixels((0.9, -0.1, 0.2, 0.2), 100, 100, pad=0.0)
    (90, 0, 100, 10)
    """
    left, top, w, h = box
    eps = 1e-6  # 0.65 * 100 is 65.00000000000001 in floating point
    x0 = int(np.floor((left - pad * w) * width + eps))
    y0 = int(np.floor((top - pad * h) * height + eps))
    x1 = int(np.ceil((left + w + pad * w) * width - eps))
    y1 = int(np.ceil((top + h + pad * h) * height - eps))
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def blur_boxes(frame: np.ndarray, boxes: Sequence[Box], pad: float = 0.25) -> int:
    """Blur every box of ``frame`` in place, beyond recognition; returns boxes blurred.

    Each region is shrunk to about 8 px across and scaled back (a strong blur
    whose cost does not grow with the face's size).
    """
    height, width = frame.shape[:2]
    done = 0
    for box in boxes:
        x0, y0, x1, y1 = to_pixels(box, width, height, pad)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = frame[y0:y1, x0:x1]
        small = cv2.resize(
            region, (max(1, (x1 - x0) // 12), max(1, (y1 - y0) // 12)), interpolation=cv2.INTER_AREA
        )
        small = cv2.GaussianBlur(small, (3, 3), 0)  # cheap here, smooth once scaled back
        frame[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        done += 1
    return done
