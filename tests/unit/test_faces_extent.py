"""A profile's extent (issue 14t): BlazeFace's box of a tilted profile turned by its
eyes-to-mouth line, blurred around the track's box — while every tracking choice
stays on the box, so what is blurred only grows."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from chalicelib.faces.blazeface import BlazeFaceDetector, default_detector
from chalicelib.faces.tracking import CoverageSettings, FaceCoverage, _Track
from devtools.synthetic.faces import Actor, Case, render

PAD = CoverageSettings().pad
Rect = tuple[int, int, int, int]


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    return BlazeFaceDetector()


def _frame(source: str, width: int, tilt: float, background: str) -> tuple[np.ndarray, Rect]:
    """A grey VGA frame with one face, and its truth box (x0, y0, x1, y1)."""
    case = Case("one", (640, 480), (Actor(source, width, (320, 240), (0, 0), tilt),), background)
    frame, boxes = next(render(case))
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), boxes[0]


def _padded(rect: Rect, side: float) -> tuple[float, float, float, float]:
    """``rect`` (x, y, w, h) grown by the tracker's pad of ``side``, as (x0, y0, x1, y1)."""
    x, y, w, h = rect
    grow = PAD * side
    return (x - grow, y - grow, x + w + grow, y + h + grow)


def _the_face(found: list[tuple[Rect, str]], truth: Rect) -> Rect:
    """The detection of the face: centred in its truth box, of about its size."""
    x0, y0, x1, y1 = truth
    for (x, y, w, h), _view in found:
        inside = x0 < x + w / 2 < x1 and y0 < y + h / 2 < y1
        if inside and 0.5 * (x1 - x0) < w < 1.5 * (x1 - x0):
            return (x, y, w, h)
    raise AssertionError(f"no detection of the face {truth}: {found}")


def _holds(outer: Sequence[float], inner: Sequence[float]) -> bool:
    """Whether box ``outer`` (x0, y0, x1, y1) holds box ``inner``."""
    x0, y0, x1, y1 = outer
    return bool(x0 <= inner[0] and y0 <= inner[1] and inner[2] <= x1 and inner[3] <= y1)


@pytest.mark.parametrize(
    ("width", "tilt", "background"), [(100, -20, "rocket"), (80, -22, "brick")]
)
def test_a_tilted_profile_is_found_with_its_jaw_and_nose(detector, width, tilt, background) -> None:
    grey, truth = _frame("camera-mirrored", width, tilt, background)
    found, extents = detector.search_extents(grey, [(0, 0, 640, 480)])
    box = _the_face(found, truth)
    extent = extents[box]
    side = max(box[2], box[3])
    # The eye line's box, padded as the tracker pads it, stops short of the face...
    assert not _holds(_padded(box, side), truth)
    # ... the extent, padded alike, holds it, and is not much larger than the face.
    assert _holds(_padded(extent, side), truth)
    truth_area = (truth[2] - truth[0]) * (truth[3] - truth[1])
    assert extent[2] * extent[3] < 1.2 * truth_area


@pytest.mark.parametrize("source", ["astronaut", "lfw-60"])
def test_a_frontal_face_keeps_the_box_of_its_eye_line(detector, source) -> None:
    grey, truth = _frame(source, 90, 0, "rocket")
    found, extents = detector.search_extents(grey, [(0, 0, 640, 480)])
    box = _the_face(found, truth)
    assert box not in extents  # (an extent equal to its box is not given)
    assert detector.search(grey, [(0, 0, 640, 480)]) == found


class ExtentSeer:
    """A detector double: one square face, weak or not, whose extent reaches 10 px below
    its box and 4 px to the left."""

    name = "extent"
    min_face = 20

    def __init__(self, positions: dict[int, tuple[int, int]], view: str = "blazeface") -> None:
        self.positions = positions
        self.view = view
        self.frame = 0

    def search(self, grey, regions, smallest=None, upright_only=None, prefer=None, largest=None):  # type: ignore[no-untyped-def]
        return self.search_extents(grey, regions)[0]

    def search_extents(self, grey, regions, *_rest):  # type: ignore[no-untyped-def]
        if self.frame not in self.positions:
            return [], {}
        x, y = self.positions[self.frame]
        inside = any(
            rx <= x and ry <= y and x + 40 <= rx + rw and y + 40 <= ry + rh
            for rx, ry, rw, rh in regions
        )
        if not inside:
            return [], {}
        rect = (x, y, 40, 40)
        return [(rect, self.view)], {rect: (x - 4, y, 44, 50)}


def _cover(seer: ExtentSeer, settings: CoverageSettings, count: int = 30) -> list:
    coverage = FaceCoverage(seer, (320, 240), 30.0, settings)
    out = []
    for index in range(count):
        seer.frame = index
        out += coverage.push(np.full((240, 320), 90, np.uint8))
    return out + coverage.finish()


def test_the_extent_is_blurred_around_the_box_and_moves_with_it() -> None:
    positions = {i: (60 + 3 * i, 80) for i in range(30)}
    plain = _cover(ExtentSeer(positions), CoverageSettings(profile_extent=False))
    grown = _cover(ExtentSeer(positions), CoverageSettings())
    for before, after in zip(plain, grown, strict=True):
        assert len(before.rects) == len(after.rects) == 1
        (bx, by, bw, bh), (ax, ay, aw, ah) = before.rects[0], after.rects[0]
        # the same rectangle, reaching 4 px further left and 10 px further down
        assert (ax, ay, ax + aw) == (bx - 4, by, bx + bw) and ay + ah == by + bh + 10


def test_the_extent_of_a_weak_detection_is_not_blurred_by_default() -> None:
    positions = {i: (60, 80) for i in range(30)}
    plain = _cover(ExtentSeer(positions, "blazeface?"), CoverageSettings(profile_extent=False))
    grown = _cover(ExtentSeer(positions, "blazeface?"), CoverageSettings())
    assert [c.rects for c in grown] == [c.rects for c in plain]
    weak = _cover(ExtentSeer(positions, "blazeface?"), CoverageSettings(weak_extent=True))
    assert any(w.rects != p.rects for w, p in zip(weak, plain, strict=True))


def test_the_back_fill_does_not_read_the_extent() -> None:
    # an old track whose *extent* (not its box) would hold a new track's back-filled box
    coverage = FaceCoverage(ExtentSeer({}), (320, 240), 30.0, CoverageSettings())
    old = _Track(0, 0, 9, np.array([100, 20, 40, 40.0]))
    old.boxes = {i: np.array([100, 20, 40, 40.0]) for i in range(10)}
    old.seen = {i: 0 for i in range(10)}
    old.reach = {0: np.array([0.0, 0.0, 0.0, 2.0])}  # reaching 80 px below its box
    new = _Track(1, 10, 10, np.array([100, 70, 40, 40.0]))
    new.boxes = {10 + i: np.array([100, 70, 40, 40.0]) for i in range(6)}
    new.seen = {10 + i: 10 for i in range(6)}
    coverage._tracks = [old, new]
    held = coverage._rect_at(old, 5)
    assert held is not None and held[1] + held[3] >= 140  # blurred with its extent
    assert coverage._rect_at(new, 5) is not None  # back-filled all the same


def test_what_is_blurred_with_extents_holds_what_is_blurred_without() -> None:
    """The real detector on a tilted mirrored profile walking across a VGA frame:
    the same tracks, each rectangle at least as large, and the face covered."""
    case = Case(
        "tilted-profile",
        (640, 480),
        (Actor("camera-mirrored", 90, (200, 240), (4, 1), tilt=-20),),
        "rocket",
        frames=24,
    )
    detector = default_detector()
    runs = []
    for settings in (CoverageSettings(profile_extent=False), CoverageSettings()):
        coverage = FaceCoverage(detector, case.size, case.fps, settings)
        out, truths = [], []
        for frame, boxes in render(case):
            truths.append(boxes)
            out += coverage.push(frame)
        runs.append((out + coverage.finish(), truths))
    (plain, truths), (grown, _same) = runs
    short = 0
    for before, after, boxes in zip(plain, grown, truths, strict=True):
        for x, y, w, h in before.rects:
            assert any(
                ax <= x and ay <= y and x + w <= ax + aw and y + h <= ay + ah
                for ax, ay, aw, ah in after.rects
            )
        for truth in boxes:
            assert any(_holds((x, y, x + w, y + h), truth) for x, y, w, h in after.rects)
            short += not any(_holds((x, y, x + w, y + h), truth) for x, y, w, h in before.rects)
    assert short  # (without the extent the face's box stops short in some frames)
