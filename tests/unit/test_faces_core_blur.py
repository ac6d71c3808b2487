"""A face's own box is blurred again, more coarsely than the rectangle around it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from chalicelib.faces.blurring import blur_rects_yuv420
from chalicelib.faces.detection import blur_rects
from chalicelib.faces.tracking import FaceCoverage
from devtools.synthetic.faces import kept_sharpness
from tests.face_doubles import Answers

# held-out-87286-6, frame 55 (x 296-423, y 414-479 of a 640 x 480 frame): the top of a
# 45-px head leaving by the bottom edge, 46 x 22 px of it in view (x 37-82, y 44-65
# here), inside its blurred rectangle (the crop's first 127 columns).
SLIVER = Path(__file__).parent.parent / "data" / "face-sliver-at-the-bottom.png"
FACE_IN_VIEW = (37, 44, 83, 66)  # corners
RECT = (0, 0, 127, 66)
BOX = (35, 14, 50, 60)  # the face's box, beyond the bottom edge


def _kept(cores: list[tuple[int, int, int, int]], yuv: bool) -> float:
    frame = cv2.imread(str(SLIVER))
    before = frame.copy()
    if yuv:
        planes = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
        blur_rects_yuv420(planes, frame.shape[0], [RECT], cores)
        after = cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420)
    else:
        blur_rects(frame, [RECT], cores)
        after = frame
    return kept_sharpness(before, after, FACE_IN_VIEW)


def test_a_sliver_of_a_face_inside_its_rectangle_keeps_under_a_tenth_of_its_sharpness() -> None:
    # ten samples across the rectangle left it 11 % (exposed: the bench's bar is 10 %)
    assert _kept([], yuv=True) >= 0.1
    assert _kept([BOX], yuv=True) < 0.06
    assert _kept([BOX], yuv=False) < 0.06


def test_the_coarser_blur_stays_inside_the_box_and_fades_in_from_its_rim() -> None:
    frame = cv2.imread(str(SLIVER))
    fine, coarse = frame.copy(), frame.copy()
    blur_rects(fine, [RECT])
    blur_rects(coarse, [RECT], [BOX])
    changed = np.any(fine != coarse, axis=2)
    ys, xs = np.nonzero(changed)
    assert xs.min() >= 35 and xs.max() < 85 and ys.min() >= 14
    # at the box's rim inside the picture the two blurs meet without a step
    rim = np.abs(fine[20:60, 35].astype(int) - coarse[20:60, 35].astype(int))
    assert rim.max() <= 8


def test_only_a_face_cut_by_the_frames_edge_has_its_box_blurred_again() -> None:
    # inside the frame, the pads' blur is enough for a whole face; the coarser one would
    # only cost false faces more background
    coverage = FaceCoverage(Answers([]), (640, 480), 30.0)
    grey = np.zeros((480, 640), np.uint8)
    inside = coverage._start_track((300, 200, 60, 60), "blazeface", grey, 0, [])
    cut = coverage._start_track((330, 440, 50, 60), "blazeface", grey, 0, [])
    for track in (inside, cut):
        track.boxes[0] = track.box.copy()  # (as a frame pushed through would give)
    assert coverage._core_at(inside, 0, (280, 180, 100, 100)) is None
    assert coverage._core_at(cut, 0, (300, 400, 110, 80)) == (330, 440, 50, 40)
    assert coverage._core_at(cut, 1, (300, 400, 110, 80)) is None  # no box there
