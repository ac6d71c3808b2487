"""Region detectors for tests of ``FaceCoverage``'s rules: they answer as told, so a
test checks what the tracker does with boxes and second looks, not the detector."""

from __future__ import annotations

import cv2
import numpy as np

Rect = tuple[int, int, int, int]


class Answers:
    """A region detector that answers every search with the same boxes."""

    min_face = 20

    def __init__(self, boxes: list[tuple[Rect, str]]) -> None:
        self.boxes = boxes

    def search(self, grey, rects, least, upright, views, largest):  # type: ignore[no-untyped-def]
        return list(self.boxes)


class Looks(Answers):
    """``Answers`` whose second look scores rectangles as told (others ``otherwise``)."""

    def __init__(self, scores: dict[Rect, float], otherwise: float) -> None:
        super().__init__([])
        self.scores, self.otherwise = scores, otherwise

    def second_look(self, grey: np.ndarray, rect: tuple[int, ...], enough: float = 1.0) -> float:
        return self.scores.get((rect[0], rect[1], rect[2], rect[3]), self.otherwise)


class NoSeer:
    """A region detector that is never asked to search (a test of a rule alone)."""

    name = "none"
    min_face = 20

    def search(self, grey, regions, smallest=None, upright_only=None, prefer=None, largest=None):  # type: ignore[no-untyped-def]
        raise AssertionError("no search expected")


def texture(height: int, width: int, seed: int, blur: int = 5) -> np.ndarray:
    """Grey noise (``seed``) smoothed by a ``blur`` x ``blur`` Gaussian: a surface
    optical flow and searches can hold on to."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (height, width), np.uint8)
    return np.asarray(cv2.GaussianBlur(noise, (blur, blur), 0))
