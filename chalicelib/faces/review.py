"""The review sheet: sampled output frames, boxes drawn, on one PNG (pure: arrays in, bytes out).

A person checks a blurred video at a glance: each tile is one output frame
(already blurred) with the blurred rectangles outlined — green for a face box,
red across the whole tile when the frame was blurred whole (strict mode) — and
its time stamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

PixelRect = tuple[int, int, int, int]


@dataclass
class ReviewSheet:
    """Collects up to ``tiles`` evenly spaced frames of a video of ``frames`` frames.

    >>> sheet = ReviewSheet(frames=10, fps=10.0, tiles=4, tile_width=80)
    >>> for i in range(10):
    ...     sheet.offer(i, np.zeros((60, 80, 3), np.uint8), [(10, 10, 20, 20)], False)
    >>> sheet.png()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """

    frames: int
    fps: float
    tiles: int = 12
    tile_width: int = 320
    columns: int = 4

    def __post_init__(self) -> None:
        count = max(1, min(self.tiles, self.frames))
        picks = np.linspace(0, max(0, self.frames - 1), count).round().astype(int)
        self._wanted = set(int(i) for i in picks)
        self._tiles: list[np.ndarray] = []

    def wants(self, index: int) -> bool:
        return index in self._wanted

    def offer(self, index: int, frame: np.ndarray, rects: Sequence[PixelRect], whole: bool) -> None:
        """Keep a tile of ``frame`` (the blurred output) if ``index`` is one of the sampled."""
        if index not in self._wanted:
            return
        height, width = frame.shape[:2]
        scale = self.tile_width / width
        tile = cv2.resize(frame, (self.tile_width, max(1, round(height * scale))))
        for x, y, w, h in rects:
            top_left = (round(x * scale), round(y * scale))
            bottom_right = (round((x + w) * scale), round((y + h) * scale))
            cv2.rectangle(tile, top_left, bottom_right, (0, 255, 0), 1)
        if whole:
            cv2.rectangle(tile, (0, 0), (tile.shape[1] - 1, tile.shape[0] - 1), (0, 0, 255), 3)
        label = f"{index / self.fps:7.2f} s  #{index}  {len(rects)} box{'es' * (len(rects) != 1)}"
        cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3)
        cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        self._tiles.append(tile)

    def png(self) -> bytes:
        """The sheet: tiles in rows of ``columns`` (black where a row is short)."""
        tiles = self._tiles or [np.zeros((10, self.tile_width, 3), np.uint8)]
        height = max(t.shape[0] for t in tiles)
        padded = [
            cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles
        ]
        while len(padded) % self.columns:
            padded.append(np.zeros_like(padded[0]))
        rows = [
            np.hstack(padded[i : i + self.columns]) for i in range(0, len(padded), self.columns)
        ]
        ok, encoded = cv2.imencode(".png", np.vstack(rows))
        if not ok:
            raise RuntimeError("could not encode the review sheet")
        return bytes(encoded.tobytes())
