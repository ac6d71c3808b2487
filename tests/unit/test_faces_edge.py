"""Small fast faces at the frame's edge (issue 14n): entering or leaving, in view for a
few frames, each one covered in every frame.

Real faces (scikit-image's wheel) on real backgrounds, rendered in memory and covered
by the pipeline's own detector and ``FaceCoverage``; before issue 14n each of these
clips left the face sharp in 1-6 frames (the optical flow lost it, or it was in
view between two detection passes and never searched at its size).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.faces.tracking import FaceCoverage
from devtools.bench.blur_sim import simulate_rendered
from devtools.synthetic.faces import Actor, Case

VGA = (640, 480)

CLIPS = [
    # entering
    Case("in-top", VGA, (Actor("lfw-3", 24, (200, -12), (-25, 20)),), "coffee", frames=10),
    Case("in-bottom", VGA, (Actor("lfw-7", 24, (400, 495), (25, -22)),), "grass", frames=10),
    Case("in-left-out-top", VGA, (Actor("lfw-3", 26, (-10, 100), (20, -18)),), "grass", frames=8),
    # leaving
    Case("out-bottom", VGA, (Actor("lfw-3", 24, (320, 420), (-20, 16)),), "grass", frames=10),
    Case("out-right", VGA, (Actor("lfw-7", 26, (560, 200), (26, -3)),), "brick", frames=10),
]


@pytest.mark.parametrize("case", CLIPS, ids=[case.name for case in CLIPS])
def test_a_small_fast_face_at_the_edge_is_never_left_sharp(case: Case) -> None:
    cv2.setNumThreads(1)
    result = simulate_rendered(case)
    assert result.face_frames >= 4  # the face is in view (counted) in a few frames
    assert result.exposed == [], [(leak.frame, leak.box, leak.kept) for leak in result.leaks]
    assert result.whole == 0  # by boxes, not by blurring whole frames
    assert result.background_psnr > 30  # and not by blurring the whole picture either


class _Answers:
    """A region detector that answers every search with the same boxes (to test what
    the edge search keeps of them, not the detector)."""

    min_face = 20

    def __init__(self, boxes: list[tuple[tuple[int, int, int, int], str]]) -> None:
        self.boxes = boxes

    def search(self, grey, rects, least, upright, views, largest):  # type: ignore[no-untyped-def]
        return list(self.boxes)


def test_the_edge_search_keeps_a_confident_face_above_its_range_and_drops_a_weak_one() -> None:
    # A 61-px face leaving by the bottom edge gets an 81-px box (the box grown to the
    # whole face), over the edge search's 74 px: dropped, it was left sharp for 8
    # frames of seed 31-2 when no other search of that pass looked at it.
    confident, weak = ((216, 379, 81, 81), "blazeface"), ((300, 380, 90, 90), "blazeface?")
    coverage = FaceCoverage(_Answers([confident, weak]), VGA, 30.0)
    grey = np.zeros((480, 640), np.uint8)
    assert coverage._edge_faces(grey, [((180, 360, 160, 120), 20)], []) == [confident]
    # (and nothing another search of the pass found already)
    assert coverage._edge_faces(grey, [((180, 360, 160, 120), 20)], [confident]) == []


def test_a_large_face_cut_by_the_left_edge_is_not_blurred_to_the_top_and_bottom() -> None:
    # held-out-82111-2: a 225-px profile leaving by the left edge of a 640 x 480 frame,
    # box 119-344 px down: its padded rectangle stopped 51 px below the top and 59 px
    # above the bottom, and was snapped to both (338 x 480 px of background blurred).
    coverage = FaceCoverage(_Answers([]), VGA, 30.0)
    track = coverage._start_track(
        (-1, 119, 217, 225), "blazeface", np.zeros((480, 640), np.uint8), 0, []
    )
    x, y, _w, h = coverage._padded(track, np.array([-1.0, 119, 217, 225]), 0, np.zeros(2))
    assert x == 0  # (cut by the left edge: it reaches it)
    assert 0 < y < 119 and 344 < y + h < 480


def test_a_box_much_wider_than_a_face_inside_it_is_not_that_face_entering() -> None:
    # held-out-47278-5, frame 8: a 960-px box cut by the bottom edge of a 1080p frame,
    # around a tracked 332-px face 46 px above that edge, was taken for a face entering
    # (its part in view, 493 px high, within 1.6 x the face's height) and blurred
    # 960 x 493 px for four frames. A face entering shows its whole width: the box is
    # 2.9 x the face's width, so it is that face seen larger.
    coverage = FaceCoverage(_Answers([]), (1920, 1080), 30.0)
    grey = np.zeros((1080, 1920), np.uint8)
    face = coverage._start_track((443, 692, 332, 342), "blazeface", grey, 7, [])
    assert not coverage._cut((193, 587, 960, 960), [face])
    # the visible part of a face entering by the bottom: as wide as the face
    entering = coverage._start_track((800, 1000, 330, 80), "blazeface", grey, 7, [])
    assert coverage._cut((780, 960, 380, 380), [entering])
