"""Faces at the frame's edge seen as slivers and reflections, and a small face found only
weakly (session 59's traced leaks: held-out-47508-4, held-out-60627-6, held-out-47508-5)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from chalicelib.faces.tracking import (
    EDGE_ALONG,
    EDGE_FULL,
    CoverageSettings,
    FaceCoverage,
    PixelRect,
    _Track,
)


class NoSeer:
    """A detector double that is never asked to search here."""

    name = "none"
    min_face = 20

    def search(self, grey, regions, smallest=None, upright_only=None, prefer=None, largest=None):  # type: ignore[no-untyped-def]
        raise AssertionError("no search expected")


class Recorder:
    """A detector double that finds nothing and records, per region searched, whether
    the fine level was asked for."""

    name = "recorder"
    min_face = 20

    def __init__(self) -> None:
        self.fine: dict[PixelRect, bool] = {}

    def search(self, grey, regions, smallest=None, upright_only=None, prefer=None, largest=None):  # type: ignore[no-untyped-def]
        return self.search_extents(grey, regions, smallest, upright_only, prefer, largest)[0]

    def search_extents(  # type: ignore[no-untyped-def]
        self,
        grey,
        regions: Sequence[PixelRect],
        smallest=None,
        upright_only=None,
        prefer=None,
        largest=None,
        fine: Sequence[bool] | None = None,
    ):
        for number, region in enumerate(regions):
            self.fine[region] = bool(fine and fine[number])
        return [], {}


def _textured(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 255, (height, width), np.uint8)
    return np.asarray(cv2.GaussianBlur(noise, (5, 5), 0))


def test_a_reflection_found_alone_is_taken_back_onto_a_still_face_at_the_edge() -> None:
    # A still face 582-640 px across at the right edge of a 640-px frame, tracked at
    # (576, 165, 67, 67), found at the next pass only as its reflection beyond the
    # edge, (623, 160, 75, 75): 17 px in view. Taken as found, the box moved 47 px
    # outwards and left the face sharp for 12 frames; reflected back it lies on it.
    coverage = FaceCoverage(NoSeer(), (640, 480), 30.0, CoverageSettings())
    track = _Track(0, 0, 20, np.array([576.0, 165, 67, 67]), view="blazeface?", strong=True)
    track.measured = True
    coverage._found_again(track, (623, 160, 75, 75), _textured(640, 480), 24)
    x, _y, w, _h = track.box
    assert x <= 582
    assert x + w >= 640


def test_a_detection_leaving_the_frame_where_the_box_is_is_not_reflected() -> None:
    # The same detection for a box already beyond the edge with it: the face leaving.
    coverage = FaceCoverage(NoSeer(), (640, 480), 30.0, CoverageSettings())
    track = _Track(0, 0, 20, np.array([618.0, 165, 67, 67]), view="blazeface?", strong=True)
    track.measured = True
    coverage._found_again(track, (623, 160, 75, 75), _textured(640, 480), 24)
    assert track.box[0] >= 618


def test_a_sliver_mostly_beyond_the_edge_is_blurred_further_along_it() -> None:
    # A 269-px face 69 px in view at the left edge, found as a 149-px box 68 px beyond
    # the edge (its sliver and the sliver's mirror image): its rectangle reaches its
    # top (y 145) and bottom (y 414). Grown along the edge as a box barely beyond it,
    # it stopped 24 px short of the top.
    coverage = FaceCoverage(NoSeer(), (640, 480), 30.0, CoverageSettings())
    track = _Track(0, 0, 0, np.array([-68.0, 216, 149, 149]), view="blazeface", strong=True)
    rect = coverage._padded(track, track.box, 0, np.zeros(2))
    assert rect is not None
    _x, y, _w, h = rect
    assert y <= 145
    assert y + h >= 414


def test_a_box_barely_beyond_the_edge_grows_along_it_as_before() -> None:
    coverage = FaceCoverage(NoSeer(), (640, 480), 30.0, CoverageSettings())
    track = _Track(0, 0, 0, np.array([-20.0, 216, 149, 149]), view="blazeface", strong=True)
    rect = coverage._padded(track, track.box, 0, np.zeros(2))
    assert rect is not None
    # the pad, and along the edge ``EDGE_ALONG`` of the box times its share beyond the
    # edge (0.134) over ``EDGE_FULL``
    along = EDGE_ALONG * 149 * min(1.0, 20 / 149 / EDGE_FULL)
    assert abs(rect[1] - (216 - 0.15 * 149 - along)) <= 1


def test_a_small_face_found_only_weakly_is_looked_for_at_the_fine_level() -> None:
    # Around a weak 52-px box (a 29-px face found weakly, oversized) the search asks
    # for the fine level; around a face found confidently, or a large weak box (on
    # texture: the fine level there finds larger and larger boxes), it does not.
    recorder = Recorder()
    coverage = FaceCoverage(recorder, (640, 480), 30.0, CoverageSettings())
    weak = _Track(0, 0, 0, np.array([100.0, 100, 52, 52]), view="blazeface?")
    sure = _Track(1, 0, 0, np.array([300.0, 100, 52, 52]), view="blazeface", strong=True)
    large = _Track(2, 0, 0, np.array([300.0, 250, 197, 197]), view="blazeface?")
    coverage._tracks = [weak, sure, large]
    coverage._index = 4
    coverage._detection_pass(_textured(640, 480), 4)
    asked = []
    for track in (weak, sure, large):
        cx, cy = track.box[:2] + track.box[2:] / 2
        asked.append(
            any(
                fine
                for (x, y, w, h), fine in recorder.fine.items()
                if x <= cx <= x + w and y <= cy <= y + h
            )
        )
    assert asked == [True, False, False]
